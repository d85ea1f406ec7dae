"""Whether this code runs inside a Jupyter kernel, found without importing IPython."""

from __future__ import annotations

import sys
from typing import Any


def running_kernel() -> Any | None:
    """The ipykernel kernel object when running inside one, else None (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return None
    shell = ipython.get_ipython()
    return getattr(shell, "kernel", None)
