"""Run the images from the OCI archive under podman, as this host allows (runc, explicit ulimits)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONTAINERFILE = ROOT / "images" / "Containerfile"
# crun fails on this host's hybrid cgroups; podman's default ulimits are refused here.
RUN_FLAGS = ["--runtime", "/usr/sbin/runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


def healthcheck_cmd() -> list[str]:
    """The Containerfile's HEALTHCHECK command: the OCI archive has no field for it, so pass it."""
    text = CONTAINERFILE.read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*? CMD (\[.*\])\s*$", text, re.M)
    assert match, "images/Containerfile has no HEALTHCHECK ... CMD [...]"
    return json.loads(match.group(1))


def podman(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=timeout)


def load(archive: Path, arch: str) -> str:
    """Copy one architecture of the archive into local storage under a throwaway tag."""
    tag = f"localhost/gateway-smoke:{arch}-{uuid.uuid4().hex[:8]}"
    subprocess.run(["skopeo", "copy", "-q", "--override-arch", arch, f"oci-archive:{archive}",
                    f"containers-storage:{tag}"], check=True, capture_output=True, text=True)
    return tag


def demo_config(tmp: Path, artifact: Path) -> Path:
    """The demo config and its artifact, readable by the image's UID 1000."""
    demo = tmp / "demo"
    shutil.copytree(ROOT / "examples" / "demo", demo, ignore=shutil.ignore_patterns("build"))
    (demo / "build").mkdir()
    shutil.copy(artifact, demo / "build" / "knn-artifact.tar")
    for path in [tmp, *demo.rglob("*"), demo]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return demo


class Container:
    def __init__(self, image: str, arch: str, demo: Path):
        self.name = f"gw-smoke-{uuid.uuid4().hex[:8]}"
        # --network none: the container has loopback only, as on an air-gapped host.
        podman("run", "-d", "--name", self.name, *RUN_FLAGS, "--network", "none", "--arch", arch,
               "-v", f"{demo}:/etc/gateway:ro", "--health-cmd", json.dumps(healthcheck_cmd()), image)
        self.started = time.monotonic()

    def wait_healthy(self, timeout: float) -> float:
        while time.monotonic() - self.started < timeout:
            if podman("healthcheck", "run", self.name, check=False, timeout=120).returncode == 0:
                return time.monotonic() - self.started
            state = podman("inspect", "--format", "{{.State.Status}}", self.name).stdout.strip()
            assert state == "running", f"container {state}:\n{self.logs()}"
            time.sleep(1)
        raise AssertionError(f"no healthy answer within {timeout} s:\n{self.logs()}")

    def python(self, code: str) -> str:
        return podman("exec", self.name, "python3", "-c", code).stdout

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return (result.stdout + result.stderr)[-3000:]

    def remove(self) -> None:
        podman("rm", "-f", "-t", "5", self.name, check=False)


CHAT = """
import json, urllib.request as u
body = {"model": "auto", "messages": [{"role": "user", "content": "Write a Python function that reverses a list"}]}
r = u.Request("http://127.0.0.1:4000/v1/chat/completions", data=json.dumps(body).encode(),
              headers={"Authorization": "Bearer sk-demo", "Content-Type": "application/json"})
resp = u.urlopen(r, timeout=60)
print(json.dumps({"status": resp.status, "routed": resp.headers.get("x-gateway-routed-model"),
                  "body": json.loads(resp.read())}))
"""
