"""What marks a checkpoint document and the ids in it, without the document's model (which needs
pydantic): for the code that writes documents and names files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

SCHEMA_NAME: Literal["graflow_nb.checkpoint"] = "graflow_nb.checkpoint"
#: Version 2 documents may be continued by a journal beside them (``_io/journal.py``); version 1 ones,
#: written before journals, are read as ever.
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: Ids as graflow_nb writes them; ids read from a file must match, so none can name a path elsewhere.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")
FEEDBACK_ID_PATTERN = re.compile(r"fb-[0-9a-f]{16}")


def checkpoint_folders_beside(directory: Path) -> str:
    """Where else runs are kept beside ``directory`` (a notebook's are in ``<name>.graflow_nb`` next to
    it), as a hint for a person who looked in the wrong one; "" when there is none."""
    here = directory.absolute()
    near = sorted(folder for folder in here.parent.glob("*.graflow_nb") if folder.is_dir() and folder != here)
    if not near:
        return ""
    shown = ", ".join(f"--dir {folder.name}" for folder in near[:5]) + (", ..." if len(near) > 5 else "")
    return f"; a notebook's runs are kept beside it, in a folder of its own: {shown}"
