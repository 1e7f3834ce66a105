"""The loadbalancer role's `appliance-lb-health` script, loaded from the role (it has no .py suffix),
and a way to run it as the service does."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "loadbalancer" / "files" / "appliance-lb-health"


def load():
    loader = importlib.machinery.SourceFileLoader("appliance_lb_health", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module  # dataclasses look their module up while the class is built
    loader.exec_module(module)
    return module


def write_config(path: Path, **values) -> Path:
    path.write_text(json.dumps(values, indent=1))
    return path


def run(config: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """The script under the system's python3, as on the load balancer host (no venv)."""
    return subprocess.run(["/usr/bin/python3", str(SCRIPT), "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout)


def start(config: Path, log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen(["/usr/bin/python3", "-u", str(SCRIPT), "--config", str(config)],
                            stdout=out, stderr=subprocess.STDOUT)
