"""Loopback-only network namespaces for offline tests (needs root and iproute2)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def require_root_netns() -> None:
    """Fail loudly (not skip) when the machine cannot make namespaces: `make test` runs as root."""
    if os.geteuid() != 0:
        raise AssertionError("this test needs root to create network namespaces (run `make test` as root)")
    if shutil.which("ip") is None:
        raise AssertionError("iproute2 is missing: `make system-deps` installs it")


class LoopbackNamespace:
    """`ip netns add NAME` with only `lo` up, and a resolv.conf pointing at a DNS observer."""

    def __init__(self, name: str, nameserver: str = "127.0.0.53"):
        require_root_netns()
        self.name = name
        self.etc = Path("/etc/netns") / name
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        self.etc.mkdir(parents=True, exist_ok=True)
        # `ip netns exec` bind-mounts /etc/netns/NAME/* over /etc/*
        (self.etc / "resolv.conf").write_text(f"nameserver {nameserver}\noptions timeout:1 attempts:1\n")

    @property
    def prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.name]

    def run(self, *cmd: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*self.prefix, *cmd], **kwargs)

    def links(self) -> list[str]:
        out = self.run("ip", "-o", "link", capture_output=True, text=True, check=True).stdout
        return [line.split(":")[1].strip() for line in out.splitlines()]

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], check=False)
        shutil.rmtree(self.etc, ignore_errors=True)
