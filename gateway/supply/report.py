"""The text of `gateway bundle inspect`: BUNDLE-INFO, parts with sizes, versions, SBOMs, vulnerabilities."""

from __future__ import annotations

from collections import Counter

from gateway.supply.inventory import VULNERABILITIES, Inventory, vulnerability_lines
from gateway.supply.reader import Bundle

# Parts one level deeper than the top directory: one line per architecture.
_BY_ARCH = ("apt", "wheelhouse", "ansible-wheelhouse", "training-wheelhouse")
# Kinds listed in full even without --versions: a handful of lines that matter most.
_ALWAYS_LISTED = ("images", "vendored binaries")


def _part(path: str) -> str:
    parts = path.split("/")
    if len(parts) == 1:
        return "(top)"
    return "/".join(parts[:2]) if parts[0] in _BY_ARCH and len(parts) > 2 else parts[0]


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def inspect_lines(bundle: Bundle, inv: Inventory, every_version: bool = False) -> list[str]:
    lines = [f"bundle {bundle.top}"]
    lines += [f"  {k}={v}" for k, v in inv.info.items()]
    files, sizes = Counter(), Counter()
    for path, size in bundle.sizes.items():
        files[_part(path)] += 1
        sizes[_part(path)] += size
    lines.append("contents:")
    lines += [f"  {part:<34} {files[part]:>6} files {_mb(sizes[part]):>12}" for part in sorted(files)]
    for kind, versions in inv.versions.items():
        if not versions:
            continue
        where = Counter(item.split(" ", 1)[0] for item in versions)
        lines.append(f"{kind}: {len(versions)} ({', '.join(f'{n} in {w}' for w, n in sorted(where.items()))})")
        if every_version or kind in _ALWAYS_LISTED:
            lines += [f"  {item} {version}" for item, version in sorted(versions.items())]
    if not every_version:
        lines.append("(--versions lists every package and wheel)")
    lines.append(f"SBOMs: {len(inv.sboms)}" if inv.sboms else "SBOMs: none in this bundle")
    lines += [f"  {line}" for line in inv.sboms]
    if inv.vulnerabilities is None:
        lines.append(f"vulnerabilities: no {VULNERABILITIES} in this bundle (see BUNDLE-INFO VULNERABILITIES)")
    else:
        report = vulnerability_lines(inv.vulnerabilities)
        lines.append(f"vulnerabilities ({VULNERABILITIES}): {report[0]}")
        lines += [f"  {line}" for line in report[1:]]
    return lines
