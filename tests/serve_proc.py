"""A real ``python main.py serve`` process on a free loopback port, for the API and remote-backend tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A ``serve`` process; ``client`` talks to it."""

    def __init__(self, data: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.data = data
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data.parent / f"serve-{self.port}.log"
        data.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, str(REPO / "main.py"), "--data-dir", str(data), "serve", "--port", str(self.port), *extra]
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=self.log.open("wb"), stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})})  # fmt: skip
        self.client = httpx.Client(base_url=self.base, timeout=60)

    def wait_ready(self, headers: dict[str, str] | None = None) -> "Server":
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if self.client.get("/v1/health", headers=headers).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"serve did not answer within 120 s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=20)
