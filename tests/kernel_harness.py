"""A real Jupyter kernel driven as a browser drives it: execute cells, and send widget comm messages.

Nothing is mocked: the kernel is a real ipykernel process started by jupyter_client, and the
messages sent are the ones JupyterLab's widget manager sends for a click or a value change.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager


def write_kernelspec(directory: Path, python: str, name: str = "graflow-test") -> Path:
    """A kernelspec that starts ipykernel with the given Python."""
    spec = directory / name
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": name,
                "language": "python",
            }
        )
    )
    return directory


class Kernel:
    """A running kernel plus a record of every iopub message and of the widget models it opened."""

    def __init__(self, python: str, workdir: Path, env: dict[str, str]) -> None:
        spec_dir = write_kernelspec(workdir / "kernelspecs", python)
        self.manager: KernelManager | None = KernelManager(
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir)]), kernel_name="graflow-test"
        )
        self.manager.start_kernel(cwd=str(workdir), env={**os.environ, **env})
        self._connect(self.manager.blocking_client())

    @classmethod
    def attach(cls, connection_file: Path) -> Kernel:
        """Talk to a kernel someone else (e.g. jupyter_server) started."""
        kernel = cls.__new__(cls)
        kernel.manager = None
        client = BlockingKernelClient(connection_file=str(connection_file))
        client.load_connection_file()
        kernel._connect(client)
        return kernel

    def _connect(self, client: BlockingKernelClient) -> None:
        self.client = client
        # No cap on the iopub messages queued on this side (zmq's default is 1,000, past which a burst
        # would be dropped while the reader is busy); what the kernel's own socket drops is its own.
        self.client.context.setsockopt(zmq.RCVHWM, 0)
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.messages: list[dict[str, Any]] = []
        self.widget_states: dict[str, dict[str, Any]] = {}
        self.reader_error: Exception | None = None
        self.closed_widgets: set[str] = set()  # widgets closed since (a page of controls turned, say)
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_iopub, daemon=True)
        self._reader.start()

    def _read_iopub(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            except Exception as error:  # noqa: BLE001 - the channel closed on shutdown, or it failed
                if not self._stop.is_set():
                    with self._changed:
                        self.reader_error = error  # seen by wait_for, not a silent stop
                        self._changed.notify_all()
                return
            with self._changed:
                self.messages.append(message)
                msg_type = message["msg_type"]
                content = message["content"]
                if msg_type == "comm_open" and content.get("target_name") == "jupyter.widget":
                    self.widget_states[content["comm_id"]] = dict(content["data"]["state"])
                elif msg_type == "comm_msg" and content["data"].get("method") in ("update", "echo_update"):
                    self.widget_states.setdefault(content["comm_id"], {}).update(content["data"]["state"])
                elif msg_type == "comm_close":
                    self.closed_widgets.add(content["comm_id"])
                self._changed.notify_all()

    def wait_for(self, condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        """Wait until ``condition()`` is truthy (re-checked on every iopub message); return its value."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                if self.reader_error is not None:
                    raise RuntimeError("the kernel's iopub messages can no longer be read") from self.reader_error
                value = condition()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what} not met within {timeout} s")
                self._changed.wait(remaining)

    # -- cells -----------------------------------------------------------------------------

    def submit(self, code: str) -> str:
        """Send a cell for execution without waiting; return its message id."""
        return str(self.client.execute(code, allow_stdin=True))  # as JupyterLab sends cells: a person is there

    def reply(self, msg_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait for the execute_reply of a cell, and for its outputs (they travel on another channel)."""
        deadline = time.monotonic() + timeout
        while True:
            reply = self.client.get_shell_msg(timeout=max(0.01, deadline - time.monotonic()))
            if reply["parent_header"].get("msg_id") == msg_id:
                self.wait_for(lambda: self._idle_after(msg_id), timeout=10, what="idle status")
                return dict(reply)

    def outputs(self, msg_id: str) -> list[dict[str, Any]]:
        """The output messages a cell has produced so far."""
        with self._changed:
            return [m for m in self.messages if m["parent_header"].get("msg_id") == msg_id]

    def text_of(self, msg_id: str) -> str:
        """Everything the cell printed or displayed as text."""
        parts = []
        for message in self.outputs(msg_id):
            content = message["content"]
            if message["msg_type"] == "stream":
                parts.append(content["text"])
            elif message["msg_type"] in ("execute_result", "display_data", "update_display_data"):
                parts.append(content["data"].get("text/plain", ""))
            elif message["msg_type"] == "error":
                parts.append("\n".join(content["traceback"]))
        return "".join(parts)

    def printed(self, msg_id: str) -> str:
        """What the cell printed (stdout and stderr)."""
        return "".join(m["content"]["text"] for m in self.outputs(msg_id) if m["msg_type"] == "stream")

    def run(self, code: str, timeout: float = 60.0) -> str:
        """Execute a cell to its end; return what it printed; raise if it failed."""
        msg_id = self.submit(code)
        reply = self.reply(msg_id, timeout)
        if reply["content"]["status"] != "ok":
            raise AssertionError(f"cell failed:\n{code}\n{self.text_of(msg_id)}")
        return self.printed(msg_id)

    def _idle_after(self, msg_id: str) -> bool:
        return any(
            m["msg_type"] == "status" and m["content"]["execution_state"] == "idle" for m in self.outputs(msg_id)
        )

    # -- widgets ---------------------------------------------------------------------------

    def mark(self) -> int:
        """A point in the widget history: ``find_widget(after=mark)`` only sees widgets opened later."""
        with self._changed:
            return len(self.widget_states)

    def find_widget(self, model: str, timeout: float = 30.0, after: int = 0, **state: Any) -> str:
        """The comm id of a widget of that model whose state matches (waiting for it to appear)."""

        def match() -> str | None:
            for comm_id, current in list(self.widget_states.items())[after:]:
                if current.get("_model_name") == model and all(current.get(k) == v for k, v in state.items()):
                    return comm_id
            return None

        return str(self.wait_for(match, timeout, what=f"{model} {state}"))

    def widget_state(self, comm_id: str) -> dict[str, Any]:
        """The widget's state as the frontend knows it."""
        with self._changed:
            return dict(self.widget_states[comm_id])

    def send_comm(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send a comm message to the kernel, as the frontend does."""
        message = self.client.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.client.shell_channel.send(message)

    def set_value(self, comm_id: str, **state: Any) -> None:
        """Change widget state as a person moving a control does."""
        self.send_comm(comm_id, {"method": "update", "state": state, "buffer_paths": []})

    def click(self, comm_id: str) -> None:
        """Click a button as a person does."""
        self.send_comm(comm_id, {"method": "custom", "content": {"event": "click"}})

    def shutdown(self) -> None:
        """Stop the kernel (or only disconnect, for a kernel someone else owns)."""
        self._stop.set()
        self.client.stop_channels()
        if self.manager is not None:
            self.manager.shutdown_kernel(now=True)


class JupyterServer:
    """A real jupyter_server on 127.0.0.1 (random port, token) whose kernels are started as JupyterLab starts them."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.token = secrets.token_hex(16)
        self.runtime = root / ".runtime"
        self.runtime.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                f"--ServerApp.port={port}",
                "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.open_browser=False",
                f"--ServerApp.root_dir={root}",
                "--ServerApp.port_retries=0",
                "--ServerApp.allow_root=True",
            ],
            env={**os.environ, **env, "JUPYTER_RUNTIME_DIR": str(self.runtime)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.request("GET", "/api/status")
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise TimeoutError("jupyter_server did not start") from None
                time.sleep(0.1)  # the server is starting; nothing to wait on but its port

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API with the token."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def open_notebook(self, relative_path: str) -> str:
        """Open a session for a notebook as JupyterLab does; return its kernel id."""
        name = Path(relative_path).name
        session = self.request(
            "POST",
            "/api/sessions",
            {"path": relative_path, "name": name, "type": "notebook", "kernel": {"name": "python3"}},
        )
        return str(session["kernel"]["id"])

    def connect(self, kernel_id: str) -> Kernel:
        """A harness connected to one of the server's kernels."""
        return Kernel.attach(self.runtime / f"kernel-{kernel_id}.json")

    def restart(self, kernel_id: str) -> None:
        """Restart a kernel as the Restart button does."""
        self.request("POST", f"/api/kernels/{kernel_id}/restart")

    def kernel_pid(self, kernel_id: str) -> int:
        """The process id of a kernel (found by its connection file on the command line)."""
        marker = f"kernel-{kernel_id}.json".encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if marker in (entry / "cmdline").read_bytes():
                        return int(entry.name)
                except OSError:
                    continue
        raise LookupError(f"no process for kernel {kernel_id}")

    def stop(self) -> None:
        """Stop the server and its kernels."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
