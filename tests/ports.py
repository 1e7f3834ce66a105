"""Loopback ports for the servers tests start, picked below the kernel's ephemeral port range.

`bind(("127.0.0.1", 0))` hands out a port from the ephemeral range, the same range every outgoing
connection on the machine takes its local port from. A server that binds the port seconds later (a
gateway starts in ~10 s) can find it held by some client's connection: SeaweedFS once lost such a race
in a clean-clone run (6977171). Below that range ports are only ever taken on purpose.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_PICK = random.SystemRandom()  # not the seeded module state: two test processes must not pick alike


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing holds now, at random from the 12,000 below the ephemeral range (from the
    kernel when that range starts too low to leave room)."""
    high = _ephemeral_low()
    low = max(1024, high - 12000)
    if high - low >= 1000:
        for _ in range(100):
            if _bindable(port := _PICK.randrange(low, high)):
                return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
