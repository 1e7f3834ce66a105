"""Serve on the listening socket systemd hands over (socket activation), so a restart refuses nobody.

The gateway role's `gateway.socket` owns the loopback listener: while `gateway.service` restarts, new
connections wait in the kernel's backlog and the next process accepts them; the old one finishes what it
has in flight (uvicorn's graceful shutdown). Without `LISTEN_FDS` for this process, uvicorn binds
--host/--port itself as before.

LiteLLM starts uvicorn with a host and a port (`uvicorn.run(**args)` in its `run_server`), and uvicorn's
own `fd=` labels the socket AF_UNIX (no TCP_NODELAY on its connections). So while LiteLLM's server start
runs, `uvicorn.run` is swapped for one that builds the same `uvicorn.Config` from LiteLLM's arguments and
serves the inherited socket, as uvicorn.run does for sockets it binds itself.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator, MutableMapping

from gateway.errors import GatewayError

# sd_listen_fds(3): the first passed descriptor.
LISTEN_FDS_START = 3
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


def inherited_socket(host: str, port: int, environ: MutableMapping[str, str] | None = None) -> socket.socket | None:
    """The TCP listener systemd passed to this process, checked to be bound to host:port; None when
    nothing was passed. The variables are removed so that no child takes the socket for its own."""
    environ = os.environ if environ is None else environ
    if environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    count = environ.get("LISTEN_FDS", "0")
    for name in _VARIABLES:
        environ.pop(name, None)
    if count != "1":
        raise GatewayError(f"LISTEN_FDS={count}: the gateway takes exactly one listening socket "
                           "(one ListenStream= in gateway.socket)")
    sock = socket.socket(fileno=LISTEN_FDS_START)
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM or \
            not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise GatewayError(f"the socket systemd passed ({sock}) is not a listening TCP socket")
    bound = sock.getsockname()[:2]
    if (socket.inet_pton(sock.family, bound[0]), bound[1]) != (_address(sock.family, host), port):
        raise GatewayError(f"the socket systemd passed listens on {bound[0]}:{bound[1]}, but serve was given "
                           f"--host {host} --port {port}: make gateway.socket's ListenStream= the same address")
    return sock


def _address(family: int, host: str) -> bytes:
    try:
        return socket.inet_pton(family, host)
    except OSError:
        raise GatewayError(f"--host {host} is not an address of the passed socket's family") from None


@contextlib.contextmanager
def uvicorn_serving(sock: socket.socket) -> Iterator[None]:
    """While inside, `uvicorn.run(app, **kwargs)` serves `sock` instead of binding host and port."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    original = uvicorn.run

    def run(app, **kwargs) -> None:
        config = uvicorn.Config(app, **kwargs)
        server = uvicorn.Server(config)
        if config.workers > 1:
            Multiprocess(config, target=server.run, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
        if config.workers == 1 and not server.started:
            raise GatewayError("uvicorn did not start on the socket systemd passed: see the log above")

    uvicorn.run = run
    try:
        yield
    finally:
        uvicorn.run = original
