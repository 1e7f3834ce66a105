"""Serve an ASGI app on a loopback port in a background thread, and stop it (tests' real peers)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import uvicorn

from tests.fake_upstream.server import bind


class ThreadedServer:
    """One uvicorn server on 127.0.0.1:<free port>; `stop()` ends it (also a context manager)."""

    def __init__(self, app: Any, name: str, lifespan: str = "on"):
        self._sock = bind("127.0.0.1", 0)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=f"{name}-{self.port}", daemon=True)

    def start(self, ready_path: str = "/", timeout: float = 10.0) -> ThreadedServer:
        """Start and wait until `ready_path` answers anything over HTTP (bounded)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._server.started:
                try:
                    httpx.get(self.url + ready_path, timeout=1.0)
                    return self
                except httpx.TransportError:
                    pass
            if not self._thread.is_alive():
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self._thread.name} did not answer on {self.url}{ready_path} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
