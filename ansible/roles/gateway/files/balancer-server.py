#!/usr/bin/python3
"""Take a gateway out of the load balancer's rotation before its restart, and put it back after.

Through HAProxy's runtime API (its admin stats socket, /run/haproxy/admin.sock on the balancer host):
`drain` sets `set server BACKEND/SERVER state drain` (no new request goes to it; its sessions go on) and
waits until it has no session left or --wait seconds passed; `ready` sets `state ready`. Prints one JSON
line: the state set, the sessions left, the seconds waited. Run by the gateway role on the balancer host
(ansible.builtin.script); stdlib only.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import socket
import sys
import time


def command(path: str, line: str) -> str:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(line.encode() + b"\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def stat(path: str, backend: str, server: str) -> tuple[int, bool]:
    """The server's current sessions (`show stat` scur) and whether it was set to drain (its admin state,
    `show servers state`: SRV_ADMF_FDRAIN 0x08); an unknown server is an error."""
    rows = csv.DictReader(io.StringIO(command(path, "show stat").lstrip("# ")))
    sessions = [int(r["scur"] or 0) for r in rows if r["pxname"] == backend and r["svname"] == server]
    if not sessions:
        raise SystemExit(f"balancer-server: no server {backend}/{server} in HAProxy's stats ({path})")
    lines = command(path, f"show servers state {backend}").splitlines()
    header = next(line for line in lines if line.startswith("# ")).split()[1:]
    states = [dict(zip(header, line.split(), strict=False)) for line in lines[1:] if line and line[0] != "#"]
    (admin,) = [int(s["srv_admin_state"]) for s in states if s["srv_name"] == server]
    return sessions[0], bool(admin & 0x08)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("socket", help="HAProxy's admin stats socket")
    parser.add_argument("backend")
    parser.add_argument("server")
    parser.add_argument("state", choices=["drain", "ready"])
    parser.add_argument("--wait", type=float, default=30.0, metavar="SECONDS",
                        help="drain: wait at most this long for the server's sessions to end (default 30)")
    args = parser.parse_args(argv)
    _, drained = stat(args.socket, args.backend, args.server)  # the server exists before it is changed
    answer = command(args.socket, f"set server {args.backend}/{args.server} state {args.state}").strip()
    if answer:  # HAProxy answers nothing on success
        raise SystemExit(f"balancer-server: HAProxy refused the state {args.state}: {answer}")
    started, (left, _) = time.monotonic(), stat(args.socket, args.backend, args.server)
    while args.state == "drain" and left and time.monotonic() - started < args.wait:
        time.sleep(0.2)
        left, _ = stat(args.socket, args.backend, args.server)
    print(json.dumps({"server": f"{args.backend}/{args.server}", "state": args.state,
                      "changed": drained != (args.state == "drain"), "sessions_left": left,
                      "waited_seconds": round(time.monotonic() - started, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
