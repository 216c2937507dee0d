"""A real ``contraband serve`` on 127.0.0.1 for tests: started as a subprocess, stopped after."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

CONTRABAND = Path(sys.executable).parent / "contraband"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """``contraband serve`` with the given environment; ``url`` once it answers /healthz."""

    def __init__(self, cwd: Path, env: dict[str, str], *args: str, ready: bool = True, timeout: float = 120,
                 keys: dict[str, str] | None = None):
        self.keys, self.env = keys or {}, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(cwd) / f"serve-{self.port}.log"
        full_env = {**os.environ, **env}
        self._out = open(self.log, "wb")
        self.proc = subprocess.Popen([str(CONTRABAND), "serve", "--port", str(self.port), *args], cwd=cwd,
                                     env=full_env, stdout=self._out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"contraband serve exited ({self.proc.returncode}): {self.output()}")
            try:
                if httpx.get(f"{self.url}/{'readyz' if ready else 'healthz'}", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"contraband serve did not answer within {timeout} s: {self.output()}")

    def output(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._out.close()
