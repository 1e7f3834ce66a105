"""Orchestrator targets rendered from the same manifest as the firewall and the port map (#19).

`gateway appliance generate --target NAME` writes one directory per target; each module is imported
only when its target is asked for (as uvicorn picks its protocol implementations by name).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from gateway.appliance.files import write_text
from gateway.appliance.loader import Loaded
from gateway.appliance.targets.facts import Options

TARGETS = {
    "kubernetes": "gateway.appliance.targets.kubernetes",
    "compose": "gateway.appliance.targets.compose",
    "ecs": "gateway.appliance.targets.ecs",
    "apprunner": "gateway.appliance.targets.apprunner",
}


def documents(target: str, loaded: Loaded, options: Options | None = None) -> dict[str, str]:
    """Relative path -> content of every file of `target` (no key material: safe to commit)."""
    module = importlib.import_module(TARGETS[target])
    return module.documents(loaded, options or Options())


def generate(loaded: Loaded, out: Path, targets: list[str], options: Options | None = None) -> list[str]:
    """Writes each target under `out/<target>/`; returns what changed, stale files of a target removed."""
    changed = []
    for target in targets:
        docs = documents(target, loaded, options)
        changed += [rel for rel, text in sorted(docs.items()) if write_text(out / rel, text)]
        folder = out / target
        # Only the target's own files: ./site beside them holds the operator's config and certificates.
        for path in sorted(p for p in folder.glob("*") if p.is_file()):
            rel = path.relative_to(out).as_posix()
            if rel not in docs:
                path.unlink()
                changed.append(f"removed {rel}")
    return changed
