"""The operator's "self-hosted" LLM for the site test (#18): the project's fake upstream in a network
namespace of its own, on the manifest's external service `llm-upstream` (a 198.18.0.0/15 address).

The namespace hangs off the client namespace, the node's only peer, which forwards between the two; the
node routes the upstream's /24 through it. What gets through is the node's nftables egress, rendered from
the manifest's flow node1 -> llm-upstream. The fake also listens on a port the manifest does not declare,
so a test can show that egress drops it while the client namespace (no firewall) reaches it.

`python -m tests.ansible.upstream_ns --address A --port P [--port Q] --config F` serves the fake on a
non-loopback address: its loopback-only guard (tests/fake_upstream/server.py) protects the host, and this
namespace reaches nothing but the client namespace.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from tests.ansible.playbook import REPO

_GET = ("import sys, urllib.request\n"
        "try:\n print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())\n"
        "except OSError:\n print('null')\n")


def _ip(*args: str, netns: str | None = None) -> None:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed: {out.stderr.strip()}")


@dataclass(frozen=True)
class Upstream:
    netns: str
    address: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def requests(self) -> list[dict] | None:
        """The fake's request log, read inside its namespace (None while it does not answer)."""
        out = subprocess.run(["ip", "netns", "exec", self.netns, sys.executable, "-c", _GET,
                              f"{self.url}/_control/requests"], capture_output=True, text=True, timeout=30)
        return json.loads(out.stdout or "null")


@contextmanager
def upstream_namespace(node, address: str, ports: Sequence[int], config: Path, log: Path,
                       prefix: int = 24) -> Iterator[Upstream]:
    """The fake on `address`:`ports` in namespace `<node>-u`; removed (with the node's route) on exit."""
    ns = f"{node.name}-u"
    network = ipaddress.ip_interface(f"{address}/{prefix}").network
    gateway = str(network.network_address + 1)
    if Path("/run/netns", ns).exists():
        _ip("netns", "delete", ns)  # left by a crashed run
    proc = None
    try:
        _ip("netns", "add", ns)
        _ip("link", "set", "lo", "up", netns=ns)
        _ip("link", "add", "up0", "netns", node.client_netns, "type", "veth", "peer", "name", "eth0", "netns", ns)
        _ip("addr", "add", f"{gateway}/{prefix}", "dev", "up0", netns=node.client_netns)
        _ip("addr", "add", f"{address}/{prefix}", "dev", "eth0", netns=ns)
        _ip("link", "set", "up0", "up", netns=node.client_netns)
        _ip("link", "set", "eth0", "up", netns=ns)
        _ip("route", "add", "default", "via", gateway, netns=ns)
        subprocess.run(["ip", "netns", "exec", node.client_netns, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        peer = str(ipaddress.ip_interface(f"{node.address}/24").network.network_address + 1)
        _ip("route", "add", str(network), "via", peer, "dev", "eth0", netns=node.node_netns)
        with log.open("w") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "tests.ansible.upstream_ns",
                                     "--address", address, *[a for p in ports for a in ("--port", str(p))],
                                     "--config", str(config)], cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        upstream = Upstream(ns, address, ports[0])
        deadline = time.monotonic() + 30
        while upstream.requests() is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the fake upstream did not answer in {ns}: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield upstream
    finally:
        if proc is not None:
            proc.terminate()
            with suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        with suppress(RuntimeError):
            _ip("route", "del", str(network), netns=node.node_netns)
        subprocess.run(["ip", "netns", "exec", node.client_netns, "sysctl", "-qw", "net.ipv4.ip_forward=0"])
        if Path("/run/netns", ns).exists():
            _ip("netns", "delete", ns)  # its end of the veth goes with it, and so does up0


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    from tests.fake_upstream.app import FakeUpstream
    from tests.fake_upstream.behaviour import load_config
    from tests.fake_upstream.server import server_config

    parser = argparse.ArgumentParser(prog="python -m tests.ansible.upstream_ns", description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, action="append", required=True)
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    sockets = []
    for port in args.port:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((args.address, port))
        sock.set_inheritable(True)
        sockets.append(sock)
    print(f"fake upstream on {args.address}:{args.port}", flush=True)
    uvicorn.Server(server_config(FakeUpstream(load_config(args.config)))).run(sockets=sockets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
