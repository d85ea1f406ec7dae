"""Whether this code runs inside a Jupyter kernel, found without importing IPython."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

#: Environment variable naming the answers file (see ``_frontends/answers_file.py``).
ANSWERS_ENV = "GRAFLOW_NB_ANSWERS"
#: Environment variable choosing ``replay`` (the default) or ``record``.
ANSWERS_MODE_ENV = "GRAFLOW_NB_ANSWERS_MODE"


def running_kernel() -> Any | None:
    """The ipykernel kernel object when running inside one, else None (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return None
    shell = ipython.get_ipython()
    return getattr(shell, "kernel", None)


def in_voila() -> bool:
    """Whether Voilà runs this kernel (it sets these in its kernels' environment)."""
    return "VOILA_BASE_URL" in os.environ or os.environ.get("SERVER_SOFTWARE", "").startswith("voila/")


_told_widgets_missing = False


def widgets_available() -> bool:
    """Whether ipywidgets can be imported here; if not, say once (stderr) how runs show instead."""
    global _told_widgets_missing  # noqa: PLW0603 - told once per process
    if "ipywidgets" in sys.modules or importlib.util.find_spec("ipywidgets") is not None:
        return True
    if not _told_widgets_missing:
        _told_widgets_missing = True
        print(
            "graflow_nb: ipywidgets is not installed beside this kernel, so runs show as text, with the "
            "commands that answer their requests; for live controls: pip install 'graflow-nb[notebook]'",
            file=sys.stderr,
        )
    return False
