"""How the benchmarks start fresh interpreters: from bytecode caches, as installed packages run."""

from __future__ import annotations

import os


def installed_like_environment(**extra: str) -> dict[str, str]:
    """This process's environment for a fresh interpreter, without PYTHONDONTWRITEBYTECODE (set on some
    machines here): pip compiles an installed package's bytecode on install, while graflow_nb's
    editable sources would otherwise be compiled at every start (~40 ms). Time a run only after an
    untimed one has written the caches."""
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    return {**environment, **extra}
