"""The listener systemd passes (LISTEN_FDS, fd 3) is taken only by the process it was meant for, only when it
is one listening TCP socket on serve's --host/--port; anything else is refused with the fix named. Each case
runs in a child process that puts a socket on fd 3, as systemd does."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integration.gateway_process import ROOT

CHILD = """
import os, socket, sys
from gateway.errors import GatewayError
from gateway.proxy.listen import inherited_socket
kind, fds, mine, host, port = sys.argv[1:]
sock = socket.socket(type=socket.SOCK_DGRAM) if kind == "udp" else socket.socket()
sock.bind(("127.0.0.1", 0))
if kind == "tcp":
    sock.listen()
os.dup2(sock.fileno(), 3)
env = {"LISTEN_FDS": fds, "LISTEN_PID": str(os.getpid() if mine == "yes" else 1)}
port = sock.getsockname()[1] if port == "same" else int(port)
try:
    got = inherited_socket(host, port, env)
    print("none" if got is None else f"socket {got.getsockname()[0]}", "left:", sorted(env))
except GatewayError as exc:
    print("error:", exc)
"""


def child(kind="tcp", fds="1", mine="yes", host="127.0.0.1", port="same") -> str:
    out = subprocess.run([sys.executable, "-c", CHILD, kind, fds, mine, host, port], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_the_listener_passed_to_this_process_is_taken_and_the_variables_removed():
    assert child() == "socket 127.0.0.1 left: []"


def test_variables_meant_for_another_process_are_ignored():
    assert child(mine="no") == "none left: ['LISTEN_FDS', 'LISTEN_PID']"


@pytest.mark.parametrize(("case", "message"), [
    ({"fds": "2"}, "LISTEN_FDS=2: the gateway takes exactly one listening socket"),
    ({"kind": "udp"}, "is not a listening TCP socket"),
    ({"kind": "unlistened"}, "is not a listening TCP socket"),
    ({"port": "1"}, "but serve was given --host 127.0.0.1 --port 1: make gateway.socket's ListenStream="),
    ({"host": "127.0.0.2"}, "--host 127.0.0.2 --port"),
    ({"host": "::1"}, "--host ::1 is not an address of the passed socket's family"),
])
def test_anything_but_one_listening_socket_on_serves_address_is_refused(case, message):
    assert message in child(**case)
