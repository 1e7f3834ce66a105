"""`podman kube play` of the generated Kubernetes objects, as this host and podman 4.3 allow.

Two things of podman 4.3 are worked around here, never in the generated objects: a Secret in the
played YAML is not created (a secret volume names a podman secret, made with `podman secret create`
from the Secret's YAML), and that secret's `data` values are written to the files as they stand, not
base64-decoded; so the podman secret gets the decoded values. The runtime and ulimits are this host's
(tests/supply_chain/podman.py), passed in a containers.conf because `kube play` has no flags for them.
"""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from pathlib import Path

import yaml

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
[engine.runtimes]
runc = ["/usr/sbin/runc"]
"""


class KubePlay:
    def __init__(self, work: Path):
        self.work = work
        self.conf = work / "containers.conf"
        self.conf.write_text(CONTAINERS_CONF)
        self.secrets: list[str] = []
        self.played: Path | None = None
        # An internal network (no route out): `--network none` refuses a pod whose containers declare ports.
        self.network = f"gw-kube-{uuid.uuid4().hex[:8]}"

    def podman(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, "CONTAINERS_CONF": str(self.conf)}
        return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout,
                              env=env)

    def play(self, objects: list[dict]) -> None:
        """Secrets become podman secrets; the rest is played on an internal network of its own."""
        rest = []
        for obj in objects:
            if obj["kind"] != "Secret":
                rest.append(obj)
                continue
            decoded = {**obj, "data": {k: base64.b64decode(v).decode() for k, v in obj["data"].items()}}
            path = self.work / f"secret-{obj['metadata']['name']}.yaml"
            path.write_text(yaml.safe_dump(decoded))
            self.podman("secret", "rm", obj["metadata"]["name"], check=False)
            self.podman("secret", "create", obj["metadata"]["name"], str(path))
            self.secrets.append(obj["metadata"]["name"])
        self.played = self.work / "played.yaml"
        self.played.write_text(yaml.safe_dump_all(rest, sort_keys=False))
        self.podman("network", "create", "--internal", self.network)
        result = self.podman("kube", "play", "--network", self.network, str(self.played), check=False)
        assert result.returncode == 0, f"podman kube play failed:\n{result.stdout}{result.stderr}"

    def container(self, deployment: str, name: str) -> str:
        """kube play names a Deployment's container <deployment>-pod-0-<container>."""
        return f"{deployment}-pod-0-{name}"

    def down(self) -> None:
        if self.played is not None:
            self.podman("kube", "down", str(self.played), check=False)
        for s in self.secrets:
            self.podman("secret", "rm", s, check=False)
        self.podman("network", "rm", "-f", self.network, check=False)
