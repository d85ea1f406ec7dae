"""Real parts for the Redis tests: Debian's redis-server on 127.0.0.1 (a free port, its own folder),
Graflow 0.2 from PyPI in .venv-graflow (./scripts/test creates it, with graflow_nb installed there),
and Graflow's own worker processes (``python -m graflow.worker.main``)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graflow_nb import GraflowRedisError
from graflow_nb._io.graflow_redis import GraflowRedisRequests

ROOT = Path(__file__).resolve().parent.parent
GRAFLOW_PYTHON = ROOT / ".venv-graflow" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Any, what: str, timeout: float = 30.0) -> Any:
    """Poll a condition until it holds (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def reachable(url: str) -> bool:
    try:
        GraflowRedisRequests(url, timeout=0.5)
    except GraflowRedisError:
        return False
    return True


class RedisServer:
    """A redis-server of the test's own, which can be stopped and started again on its port."""

    def __init__(self, folder: Path) -> None:
        server = shutil.which("redis-server")
        assert server, "the Redis tests need Debian's redis-server (./scripts/test installs it)"
        self._command = [server, "--port", str(free_port()), "--bind", "127.0.0.1", "--dir", str(folder)]
        self._command += ["--save", ""]
        self.port = int(self._command[2])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: reachable(self.url), "redis-server to accept connections")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def graflow_python() -> Path:
    if not GRAFLOW_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("no .venv-graflow: ./scripts/test creates it, with Graflow from PyPI")
        pytest.skip("no .venv-graflow (./scripts/test creates it, with Graflow from PyPI)")
    return GRAFLOW_PYTHON


class GraflowWorkers:
    """Graflow's own worker processes, fed by one Redis; each may be killed."""

    def __init__(self, python: Path, port: int, count: int, folder: Path, concurrency: int = 4) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs = [folder / f"worker{index}.log" for index in range(count)]
        for log in self.logs:
            command = [str(python), "-m", "graflow.worker.main", "--redis-host", "127.0.0.1"]
            command += ["--redis-port", str(port), "--max-concurrent-tasks", str(concurrency)]
            command += ["--poll-interval", "0.05", "--log-level", "WARNING"]
            with log.open("wb") as output:
                # (in the test's folder: whatever a task writes by a relative path stays there)
                worker = subprocess.Popen(command, cwd=folder, stdout=output, stderr=subprocess.STDOUT)
                self.processes.append(worker)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def kill(self, pid: int) -> None:
        """SIGKILL one worker: it stops at once, mid-task, with no chance to say anything."""
        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # Graflow's worker waits for its running tasks on SIGTERM
                process.kill()
                process.wait(10)


@pytest.fixture
def workers(redis_server: RedisServer, graflow_python: Path, tmp_path: Path) -> Iterator[GraflowWorkers]:
    running = GraflowWorkers(graflow_python, redis_server.port, 2, tmp_path)
    try:
        yield running
    finally:
        running.stop()


def run_script(python: Path, script: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    command = [str(python), str(script), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, cwd=script.parent)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """graflow-nb from this test's Python (a person's terminal, on another machine as far as Redis knows)."""
    return subprocess.run(
        [sys.executable, "-m", "graflow_nb", *args], capture_output=True, text=True, timeout=30, check=False
    )


class BackgroundScript:
    """A script running meanwhile (the notebook's side of a run), killed on leaving if still running."""

    def __init__(self, python: Path, script: Path, *args: str, env: dict[str, str] | None = None) -> None:
        command = [str(python), str(script), *args]
        self.process = subprocess.Popen(
            command, cwd=script.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def finish(self, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Wait for the script to end (bounded); what it printed."""
        out, err = self.process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, out, err)

    def __enter__(self) -> BackgroundScript:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
