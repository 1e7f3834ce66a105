"""Run `gateway serve` as a real process for HTTP tests, and stop it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.ports import free_port as free_port  # below the ephemeral range: see tests/ports.py

ROOT = Path(__file__).resolve().parents[2]


class GatewayProcess:
    """`python -m gateway serve` on a free loopback port; output kept in a log file."""

    def __init__(self, config: Path, log: Path, port: int | None = None, prefix: list[str] | None = None,
                 env: dict[str, str] | None = None, extra_args: list[str] | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [*(prefix or []), sys.executable, "-m", "gateway", "serve", "--config", str(config),
               "--port", str(self.port), *(extra_args or [])]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    def wait_ready(self, timeout: float = 90, probe=None) -> float:
        """Seconds until /health/liveliness answered 200 (or `probe()` is true); raises with the log tail."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if probe() if probe else httpx.get(f"{self.url}/health/liveliness", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gateway not ready after {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
