"""Run the fake upstream on a loopback port: in a background thread (pytest) or in the foreground."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from tests.fake_upstream.app import FakeUpstream
from tests.fake_upstream.behaviour import Behaviour, FakeConfig

LOOPBACK_NAMES = {"localhost"}


def check_loopback(host: str) -> str:
    """The fake never listens beyond loopback: it has no auth and records request bodies."""
    if host in LOOPBACK_NAMES:
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ValueError(f"host '{host}' is not a loopback address; the fake upstream listens on loopback only")


def bind(host: str, port: int) -> socket.socket:
    host = check_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def server_config(fake: FakeUpstream, log_level: str = "warning") -> uvicorn.Config:
    # Hung ("timeout") requests must not hold shutdown for long.
    return uvicorn.Config(
        fake.app, lifespan="off", log_level=log_level, access_log=False, timeout_graceful_shutdown=1
    )


class FakeUpstreamHandle:
    """A running fake: its URLs, its live state, and `stop()`. Also a context manager."""

    def __init__(
        self, fake: FakeUpstream, server: uvicorn.Server, thread: threading.Thread, host: str, port: int
    ):
        self.fake = fake
        self.state = fake.state
        self._server = server
        self._thread = thread
        self.host = host
        self.port = port
        netloc = f"[{host}]" if ":" in host else host
        self.url = f"http://{netloc}:{port}"
        #: what an OpenAI client or LiteLLM's `api_base` wants
        self.base_url = f"{self.url}/v1"

    def set_behaviour(self, model: str | None = None, **fields: Any) -> None:
        """Replace the behaviour of `model` (None: the global default), e.g. fail="rate_limit"."""
        self.state.set(model, Behaviour.model_validate(fields))

    def configure(self, config: FakeConfig | dict[str, Any]) -> None:
        self.state.replace(FakeConfig.model_validate(config) if isinstance(config, dict) else config)

    def requests(self) -> list[dict[str, Any]]:
        return self.state.requests()

    def reset(self) -> None:
        self.state.reset()

    def stop(self, timeout: float = 5.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> FakeUpstreamHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fake_upstream(
    port: int = 0,
    config: FakeConfig | dict[str, Any] | None = None,
    host: str = "127.0.0.1",
    startup_timeout: float = 60.0,
) -> FakeUpstreamHandle:
    """Serve a new fake on `host:port` (0: a free port) in a daemon thread; return once it answers."""
    if isinstance(config, dict):
        config = FakeConfig.model_validate(config)
    fake = FakeUpstream(config)
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(fake))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"fake-upstream-{bound_port}", daemon=True
    )
    thread.start()
    handle = FakeUpstreamHandle(fake, server, thread, host, bound_port)
    deadline = time.monotonic() + startup_timeout
    while True:
        try:
            if httpx.get(f"{handle.url}/_control/health", timeout=1.0).status_code == 200:
                return handle
        except httpx.TransportError:
            pass
        if not thread.is_alive() or time.monotonic() > deadline:
            handle.stop()
            raise RuntimeError(f"fake upstream did not answer on {handle.url} within {startup_timeout}s")
        time.sleep(0.02)
