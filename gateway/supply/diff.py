"""What changes from one bundle to the next, before anything is installed (`gateway bundle diff`).

Versions are compared by kind (Debian packages, wheels, image digests, vendored binaries); every
other file (playbooks, docs, examples, SBOMs) by its sha256, so a changed playbook is seen too.
"""

from __future__ import annotations

from gateway.supply.inventory import Inventory

_EVERY_BUILD = ("SHA256SUMS", "SHA256SUMS.sig", "BUNDLE-INFO")


def _changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    lines = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            lines.append(f"- {key} {old[key]}")
        elif key not in old:
            lines.append(f"+ {key} {new[key]}")
        elif old[key] != new[key]:
            lines.append(f"~ {key} {old[key]} -> {new[key]}")
    return lines


def _count(lines: list[str]) -> str:
    return f"{len(lines)} change{'s' if len(lines) != 1 else ''}"


def diff(old: Inventory, new: Inventory) -> list[str]:
    """Sections with `+` added, `-` removed, `~` changed lines; [] when nothing differs."""
    out: list[str] = []
    keys = ("VERSION", "ARCHES", "REVISION", "BUILT", "TRAINING")
    info = _changes({k: old.info.get(k, "?") for k in keys}, {k: new.info.get(k, "?") for k in keys})
    if info:
        out += ["bundle:", *(f"  {line}" for line in info)]
    for kind in dict.fromkeys([*old.versions, *new.versions]):
        lines = _changes(old.versions.get(kind, {}), new.versions.get(kind, {}))
        if lines:
            out += [f"{kind}: {_count(lines)}", *(f"  {line}" for line in lines)]
    # The signed listing and BUNDLE-INFO differ between any two builds: they say nothing more.
    old_files, new_files = ({p: h for p, h in inv.other.items() if p not in _EVERY_BUILD} for inv in (old, new))
    others = [" ".join(line.split(" ", 2)[:2]) for line in _changes(old_files, new_files)]
    if others:
        out += [f"other files: {_count(others)}", *(f"  {line}" for line in others)]
    return out
