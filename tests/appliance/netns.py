"""Network namespaces joined by veth: real hosts for firewall tests, removed in teardown.

Addresses come from the manifest (198.18.0.0/15, the benchmarking range), so nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager

LISTENER = r"""
import socket, sys, threading, time
socks = []
for port in map(int, sys.argv[1:]):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(8); socks.append(s)
def serve(s):
    while True:
        c, _ = s.accept(); c.sendall(b"hello\n"); c.close()
for s in socks:
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
time.sleep(180)  # bounded: the test kills it sooner
"""

CONNECT = r"""
import socket, sys
try:
    c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    c.settimeout(30)  # connected: the firewall let it through; the listener's greeting may come late on a busy CI
    print(c.recv(16).decode().strip() or "connected")
except TimeoutError:
    print("timeout")
except OSError as e:
    print(type(e).__name__)
"""


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=60)


@contextmanager
def two_hosts(a_addr: str, b_addr: str, *more_b: str):
    """Yields (ns_a, ns_b): two namespaces on one veth link, each with its manifest address /15; `more_b`:
    further addresses of ns_b (it then stands for several hosts)."""
    tag = f"{os.getpid() % 100000}"
    a, b = f"apl-a-{tag}", f"apl-b-{tag}"
    va, vb = f"apla{tag}", f"aplb{tag}"
    procs: list[subprocess.Popen] = []
    try:
        sh("ip", "netns", "add", a)
        sh("ip", "netns", "add", b)
        sh("ip", "link", "add", va, "type", "veth", "peer", "name", vb)
        sh("ip", "link", "set", va, "netns", a)
        sh("ip", "link", "set", vb, "netns", b)
        for ns, dev, addr in ((a, va, a_addr), (b, vb, b_addr), *((b, vb, x) for x in more_b)):
            sh("ip", "-n", ns, "addr", "add", f"{addr}/15", "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        yield a, b, procs
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=10)
        sh("ip", "netns", "del", a, check=False)
        sh("ip", "netns", "del", b, check=False)


def listen(ns: str, procs: list, *ports: int) -> subprocess.Popen:
    p = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", LISTENER, *map(str, ports)],
        stdout=subprocess.PIPE,
        text=True,
    )
    procs.append(p)
    line = p.stdout.readline()  # "ready", or "" if it died (it exits by itself after 180 s at most)
    assert line.strip() == "ready", f"listener on {ports} did not start"
    return p


def drops(ns: str, chain: str) -> int:
    """Packets counted by the `drop: not in the manifest` rule of a chain of the appliance table in `ns`."""
    data = json.loads(sh("ip", "netns", "exec", ns, "nft", "-j", "list", "chain", "inet", "appliance", chain).stdout)
    rule = next(i["rule"] for i in data["nftables"] if "rule" in i and i["rule"].get("comment", "").startswith("drop"))
    return next(e["counter"]["packets"] for e in rule["expr"] if "counter" in e)


def connect(ns: str, addr: str, port: int, timeout: float = 1.0) -> str:
    return sh(
        "ip", "netns", "exec", ns, sys.executable, "-c", CONNECT, addr, str(port), str(timeout)
    ).stdout.strip()


@contextmanager
def one_host(addresses: list[str]):
    """Yields a namespace whose loopback holds `addresses`: a host on which to bind the manifest's addresses."""
    ns = f"apl-h-{os.getpid() % 100000}"
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        for addr in addresses:
            sh("ip", "-n", ns, "addr", "add", addr, "dev", "lo")
        yield ns
    finally:
        sh("ip", "netns", "del", ns, check=False)
