"""Run one service of a Compose file with `podman run`: podman 4.3 has no `compose`, and no
podman-compose is in the locks. Every key of the service is either translated or named as left out
(networking: the test runs with loopback only); an unknown key fails, so none is silently dropped."""

from __future__ import annotations

import json
from pathlib import Path

from tests.supply_chain.podman import RUN_FLAGS

LEFT_OUT = {"ports", "networks", "depends_on", "restart", "stop_grace_period"}


def run_args(service: dict, project_dir: Path, name: str) -> list[str]:
    unknown = set(service) - LEFT_OUT - {"image", "command", "user", "read_only", "tmpfs", "cap_drop",
                                          "security_opt", "environment", "volumes", "healthcheck"}
    assert not unknown, f"compose keys this runner does not translate: {sorted(unknown)}"
    args = ["run", "-d", "--name", name, *RUN_FLAGS, "--network", "none"]
    if service.get("user"):
        args += ["--user", service["user"]]
    if service.get("read_only"):
        args.append("--read-only")
    for path in service.get("tmpfs", []):
        args += ["--tmpfs", path]
    for cap in service.get("cap_drop", []):
        args += ["--cap-drop", cap]
    for opt in service.get("security_opt", []):
        args += ["--security-opt", opt]
    for key, value in (service.get("environment") or {}).items():
        args += ["-e", f"{key}={value}"]
    for volume in service.get("volumes", []):
        source, _, rest = volume.partition(":")
        if source.startswith("."):
            source = str((project_dir / source).resolve())
        args += ["-v", f"{source}:{rest}"]
    check = service.get("healthcheck", {}).get("test")
    if check:
        assert check[0] == "CMD", check
        args += ["--health-cmd", json.dumps(check[1:])]
    return [*args, service["image"], *service.get("command", [])]
