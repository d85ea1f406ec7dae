"""The README's launch command, run as a user runs it (as root too: containers and this CI run as root)."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(600)
def test_scripts_lab_serves_the_example_notebooks() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "lab"), "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None

    def read() -> None:
        for line in process.stdout or []:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    try:
        while True:
            try:
                line = lines.get(timeout=480)
            except queue.Empty:
                pytest.fail("no server URL within 8 minutes:\n" + "".join(seen[-30:]))
            seen.append(line)
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", line)
            if found:
                break
            assert process.poll() is None, "scripts/lab exited:\n" + "".join(seen[-30:])
        token = found.group(1)
        url = f"http://127.0.0.1:{port}/api/contents?token={token}"
        listed = _contents(url, process, seen)
        assert "01_approval_gate.ipynb" in listed, listed
        assert not any("allow-root" in line for line in seen), "".join(seen)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
        reader.join(timeout=30)
        process.stdout.close()


def _contents(url: str, process: subprocess.Popen[str], seen: list[str]) -> set[str]:
    """The names the server lists, asked until it accepts connections (it prints its URL a moment
    before it listens), for 60 s at most."""
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    deadline = time.monotonic() + 60
    while True:
        try:
            with direct.open(url, timeout=30) as reply:
                return {item["name"] for item in json.load(reply)["content"]}
        except OSError as error:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{error}; exited: {process.poll()}\n" + "".join(seen[-30:]))
            threading.Event().wait(0.2)
