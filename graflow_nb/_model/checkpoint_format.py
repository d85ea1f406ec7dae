"""What marks a checkpoint document and the ids in it, without the document's model (which needs
pydantic): for the code that writes documents and names files."""

from __future__ import annotations

import re
from typing import Literal

SCHEMA_NAME: Literal["graflow_nb.checkpoint"] = "graflow_nb.checkpoint"
#: Version 2 documents may be continued by a journal beside them (``_io/journal.py``); version 1 ones,
#: written before journals, are read as ever.
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: Ids as graflow_nb writes them; ids read from a file must match, so none can name a path elsewhere.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
FEEDBACK_ID_PATTERN = re.compile(r"fb-[0-9a-f]{16}")
