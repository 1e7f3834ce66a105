"""Running site.yml from a test: the site's generated files, the inventory, the recap."""

from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.ansible.container import ansible_bin, ansible_inventory_line

REPO = Path(__file__).resolve().parents[2]
GATEWAY = REPO / ".venv/bin/gateway"
ARCH = "amd64"
RECAP = re.compile(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", re.M)


def generate_site(out: Path, manifest: Path) -> Path:
    """`gateway appliance generate`: CA, certificates, rules and ansible-vars.yml, as an operator runs it."""
    site = out / "site"
    subprocess.run([str(GATEWAY), "appliance", "generate", str(manifest), "--out", str(site), "--no-render"],
                   check=True, capture_output=True, text=True)
    return site


def repo_inputs(stage: Path) -> list[str]:
    """Extra vars for running from the source checkout instead of an unpacked bundle."""
    values = {
        "appliance_bundle_dir": REPO,
        "appliance_apt_dir": REPO / f"dist/apt/linux-{ARCH}",
        "appliance_wheelhouse_dir": REPO / f"wheelhouse/dist/linux-{ARCH}",
        "appliance_vendor_dir": REPO / "vendor/dist",
        "appliance_vendor_lock": REPO / "vendor/artifacts.lock.json",
        "appliance_stage_dir": stage,
        # No collector package can be had on this machine (docs/install.md).
        "otelcol_enabled": "false",
    }
    return [arg for key, value in values.items() for arg in ("-e", f"{key}={value}")]


@dataclass
class PlaybookRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return {
            host: {k: int(v) for k, v in (pair.split("=") for pair in counts.split())}
            for host, counts in RECAP.findall(self.stdout)
        }

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported a change (for a readable failure)."""
        out, task = [], ""
        for line in self.stdout.splitlines():
            if line.startswith("TASK ["):
                task = line
            elif line.startswith("changed:"):
                out.append(task)
        return out

    def tail(self, chars: int = 6000) -> str:
        return self.stdout[-chars:] + "\n--- stderr ---\n" + self.stderr[-2000:]


def run_playbook(site: Path, node, *args: str, inventory_host: str = "node1", extra: list[str] = (),
                 playbook: str = "site.yml") -> PlaybookRun:
    """site.yml (or another `playbook` of ansible/) against `node` (nsenter), or, with node=None, against
    this machine in check mode.

    The local form is only for checks that must stop in preflight (bad input): --check makes sure
    that even a preflight bug cannot change the machine running the tests.
    """
    stage = site.parent / "stage"
    stage.mkdir(exist_ok=True)
    inventory = site.parent / f"inventory-{inventory_host}.ini"
    if node is None:
        host_line = f"{inventory_host} ansible_connection=local ansible_python_interpreter=/usr/bin/python3"
        args = ("--check", *args)
    else:
        host_line = f"{inventory_host} {ansible_inventory_line(node)}"
    inventory.write_text(host_line + "\n")
    env = {
        "PATH": f"{ansible_bin('ansible-playbook').parent}:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "ANSIBLE_CONFIG": str(REPO / "ansible/ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
    }
    cmd = [str(ansible_bin("ansible-playbook")), "-i", str(inventory), str(REPO / "ansible" / playbook),
           "-e", f"appliance_dir={site}", *repo_inputs(stage), *extra, *args]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    elapsed = time.monotonic() - started
    runs = sorted(site.parent.glob("playbook-*.log"))
    (site.parent / f"playbook-{len(runs) + 1}.log").write_text(
        f"# {' '.join(args) or 'apply'}: {elapsed:.0f} s\n" + proc.stdout + "\n--- stderr ---\n" + proc.stderr)
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr)


def apply_twice(site: Path, node) -> tuple[PlaybookRun, PlaybookRun]:
    """site.yml applied twice (the second run is what idempotence is judged on); both must succeed."""
    first = run_playbook(site, node)
    assert first.returncode == 0, first.tail()
    second = run_playbook(site, node)
    assert second.returncode == 0, second.tail()
    return first, second
