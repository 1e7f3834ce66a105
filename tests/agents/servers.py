"""Serve an ASGI app on a loopback port in a background thread, and stop it (tests' real peers)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import uvicorn

from tests.fake_upstream.server import bind


class ThreadedServer:
    """One uvicorn server on 127.0.0.1:<free port>; `stop()` ends it (also a context manager).

    The port is bound first, so an app that must know its own URL (an A2A agent card) can be
    built from `url` before `start(app)`.
    """

    def __init__(self, name: str):
        self._sock = bind("127.0.0.1", 0)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = f"{name}-{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self, app: Any, ready_path: str = "/", timeout: float = 60.0) -> ThreadedServer:
        """Serve `app` and wait until `ready_path` answers anything over HTTP (bounded)."""
        config = uvicorn.Config(app, lifespan="on", log_level="warning", access_log=False,
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name=self.name, daemon=True)
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
        raise RuntimeError(f"{self.name} did not answer on {self.url}{ready_path} within {timeout}s")

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ThreadedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
