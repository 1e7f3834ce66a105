"""Count DNS queries: a listener on UDP and TCP port 53 that never answers.

Run inside a test namespace whose resolv.conf points at it; each query's name is appended to
the output file, so a test can prove that nothing tried to resolve a name.
"""

from __future__ import annotations

import argparse
import socket
import threading


def qname(packet: bytes) -> str:
    labels, i = [], 12
    while i < len(packet) and packet[i]:
        length = packet[i]
        labels.append(packet[i + 1:i + 1 + length].decode(errors="replace"))
        i += 1 + length
    return ".".join(labels)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="127.0.0.53")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    lock = threading.Lock()

    def record(name: str) -> None:
        with lock, open(args.out, "a") as out:
            out.write(name + "\n")

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((args.address, 53))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((args.address, 53))
    tcp.listen()

    def serve_tcp() -> None:
        while True:
            conn, _ = tcp.accept()
            with conn:
                data = conn.recv(4096)
                record(qname(data[2:]) + " (tcp)")

    threading.Thread(target=serve_tcp, daemon=True).start()
    open(args.out, "a").close()
    while True:
        data, _ = udp.recvfrom(4096)
        record(qname(data))


if __name__ == "__main__":
    main()
