"""Which notebook file this kernel runs, so that checkpoints can live beside it.

Looked up in this order, the first answer wins:

1. ``$GRAFLOW_NB_NOTEBOOK`` (or :func:`set_notebook_path`);
2. ``$JPY_SESSION_NAME``, which jupyter_server sets for the kernels it starts;
3. VS Code's ``__vsc_ipynb_file__`` in the user namespace;
4. the running Jupyter servers on this machine, asked which session owns this kernel (as ipynbname
   does; local servers only, half a second at most);
5. Voilà: the notebook its request names (``$SCRIPT_NAME``, in the kernel's folder, the notebook's);
6. the client that started the kernel (papermill, ``jupyter nbconvert --execute``, ``jupyter
   execute``, ``voila app.ipynb``): the notebook named on its command line (``$JPY_PARENT_PID``; Linux);
7. none: checkpoints go to the working directory, with a one-time line on stderr saying how to choose.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._util.environment import running_kernel

#: Environment variable naming the notebook file explicitly.
NOTEBOOK_ENV = "GRAFLOW_NB_NOTEBOOK"
#: The suffix of the checkpoint folder beside a notebook: ``analysis.ipynb`` -> ``analysis.graflow_nb/``.
FOLDER_SUFFIX = ".graflow_nb"

_found: tuple[Path | None, str] | None = None
_warned = False


def set_notebook_path(path: str | os.PathLike[str] | None) -> None:
    """Say which notebook this is (None forgets it), e.g. where no lookup can find it."""
    global _found  # noqa: PLW0603 - one answer per kernel process
    _found = (Path(path).resolve(), "set_notebook_path()") if path is not None else None


def notebook_path() -> tuple[Path | None, str]:
    """The notebook file and how it was found, or ``(None, reason)`` outside a known notebook."""
    global _found  # noqa: PLW0603 - one answer per kernel process
    if _found is None:
        _found = _look_up()
    return _found


def current_notebook() -> Path | None:
    """The running notebook's file; None outside a notebook (no lookup is tried there) or if unknown."""
    if _found is None and running_kernel() is None and not os.environ.get(NOTEBOOK_ENV):
        return None
    return notebook_path()[0]


def notebook_checkpoint_dir() -> Path | None:
    """The checkpoint folder beside the running notebook; the working directory, with a warning, when
    the notebook cannot be found; None outside a kernel."""
    global _warned  # noqa: PLW0603 - warn once per kernel
    kernel = running_kernel()
    explicit = os.environ.get(NOTEBOOK_ENV)
    if kernel is None and not explicit:
        return None
    path, how = notebook_path()
    if path is not None:
        return path.with_name(path.stem + FOLDER_SUFFIX)
    folder = Path.cwd() / ".graflow_nb"
    if not _warned:
        _warned = True
        print(  # a line of its own, not a warning pointing into graflow_nb's code
            f"graflow_nb: could not tell which notebook this is ({how}), so checkpoints go to {folder}, "
            f"shared with any other notebook run here. Name it: {NOTEBOOK_ENV}=path/to/notebook.ipynb, "
            "graflow_nb.set_notebook_path('notebook.ipynb') in the notebook, or workflow(..., checkpoint_dir=...).",
            file=sys.stderr,
        )
    return folder


def _look_up() -> tuple[Path | None, str]:
    explicit = os.environ.get(NOTEBOOK_ENV)
    if explicit:
        return Path(explicit).resolve(), f"${NOTEBOOK_ENV}"
    lookups: list[tuple[Callable[[], Path | None], str]] = [
        (lambda: _from_session_name(os.environ.get("JPY_SESSION_NAME", "")), "$JPY_SESSION_NAME"),
        (_from_vscode, "VS Code"),
        (_from_servers, "the Jupyter server"),
        (_from_voila, "Voilà's request"),
        (_from_batch_client, "the command line of the client that started the kernel"),
    ]
    for look, how in lookups:  # in this order: the first answer wins
        found = look()
        if found is not None:
            return found, how
    return None, "no JPY_SESSION_NAME, no VS Code file, no local server or batch client names it"


def _from_session_name(value: str) -> Path | None:
    """jupyter_server's JPY_SESSION_NAME: an absolute path, or one relative to the server's root."""
    if not value.endswith(".ipynb"):
        return None  # sometimes a session id rather than a path
    candidate = Path(value)
    if candidate.is_absolute():
        return candidate
    for base in (Path.cwd() / candidate.name, Path.cwd() / candidate):
        if base.exists():
            return base.resolve()
    return (Path.cwd() / candidate.name).resolve()


def _from_vscode() -> Path | None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    value = getattr(shell, "user_ns", {}).get("__vsc_ipynb_file__")
    return Path(value) if isinstance(value, str) and value else None


#: Clients whose command line names the one notebook they run a kernel for.
_BATCH_CLIENTS = ("papermill", "nbconvert", "jupyter-execute", "jupyter-nbclient", "voila")


def _from_voila() -> Path | None:
    """Voilà starts each kernel in its notebook's folder and tells it the request's path."""
    if not os.environ.get("SERVER_SOFTWARE", "").startswith("voila/"):
        return None
    name = Path(os.environ.get("SCRIPT_NAME", "")).name
    return (Path.cwd() / name).resolve() if name.endswith(".ipynb") else None


def _from_batch_client() -> Path | None:
    """The notebook a batch client's command line names (papermill's input; the only one otherwise)."""
    parent = os.environ.get("JPY_PARENT_PID", "")
    if not parent.isdigit():
        return None
    try:
        words = Path(f"/proc/{parent}/cmdline").read_bytes().decode(errors="replace").split("\0")
        cwd = Path(f"/proc/{parent}/cwd").readlink()
    except OSError:  # not Linux, or the client is gone
        return None
    names = [Path(word).name for word in words[:3]]
    is_batch = any(client in name for name in names for client in _BATCH_CLIENTS) or names[1:2] == ["execute"]
    if not is_batch:
        return None
    notebooks = [
        word
        for before, word in zip(["", *words], words, strict=False)
        if word.endswith(".ipynb") and before not in ("--output", "-o") and not word.startswith("--")
    ]
    if any("papermill" in name for name in names):
        notebooks = notebooks[:1]  # input, then output
    if len(notebooks) != 1:
        return None  # several notebooks in one command: this kernel cannot tell which is its own
    return (cwd / notebooks[0]).resolve()


def _kernel_id() -> str | None:
    """The running kernel's id, from its connection file's name (read off the kernel's application)."""
    app = getattr(running_kernel(), "parent", None)  # ipykernel's IPKernelApp
    connection_file = getattr(app, "connection_file", None)
    if not isinstance(connection_file, str) or not connection_file:
        return None
    match = re.fullmatch(r"kernel-(.+)\.json", Path(connection_file).name)
    return match.group(1) if match else None


def _from_servers(timeout: float = 0.5) -> Path | None:
    """Ask the local Jupyter servers (their runtime files) which notebook owns this kernel."""
    kernel_id = _kernel_id()
    if kernel_id is None:
        return None
    try:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime = Path(jupyter_runtime_dir())
    except ImportError:
        return None
    for info_file in sorted(runtime.glob("jpserver-*.json")):
        try:
            info: dict[str, Any] = json.loads(info_file.read_text())
        except (OSError, ValueError):
            continue
        if info.get("hostname") not in ("localhost", "127.0.0.1", "::1", "0.0.0.0"):
            continue
        found = _ask_server(info, kernel_id, timeout)
        if found is not None:
            return found
    return None


def _ask_server(info: dict[str, Any], kernel_id: str, timeout: float) -> Path | None:
    import urllib.request  # here: with ssl, it is slow to import and rarely needed

    url = f"http://127.0.0.1:{info.get('port')}{info.get('base_url', '/')}api/sessions"
    request = urllib.request.Request(url, headers={"Authorization": f"token {info.get('token', '')}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            sessions = json.load(response)
    except (OSError, ValueError):
        return None
    for session in sessions:
        if session.get("kernel", {}).get("id") == kernel_id and session.get("path"):
            return (Path(str(info.get("root_dir", "."))) / str(session["path"])).resolve()
    return None
