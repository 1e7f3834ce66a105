"""What a bundle ships, by kind and version, read from its file names and its own metadata.

Debian packages from the `.deb` names of the flat apt repositories (`name_version_arch.deb`), wheels
from the wheel names (PEP 427), images from the OCI archive's index and manifests, vendored binaries
from their directories (`<name>-<version>-linux-<arch>/`, as vendor/fetch.py writes them); SBOMs and
the vulnerability report are summarised as `zarf package inspect` does. Nothing is installed or
unpacked: this is what an operator reads before deciding to.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote

from gateway.supply.reader import Bundle

VULNERABILITIES = "reports/vulnerabilities.json"
INFO = "BUNDLE-INFO"
_WHEEL_DIRS = re.compile(r"((?:ansible-|training-)?wheelhouse/linux-[a-z0-9]+)/([^/]+\.whl)")
_APT = re.compile(r"apt/(linux-[a-z0-9]+)/(?:.*/)?([^/]+)\.deb")
# vendor/dist/<name>-<version>-linux-<arch>/<file> (vendor/fetch.py), copied to the bundle's vendor/
_VENDOR = re.compile(r"vendor/([^/]+)-([^-/]+)-(linux-[a-z0-9]+)/[^/]+")
_INDEX = "application/vnd.oci.image.index.v1+json"

#: kind -> {item name -> version}; an item name says where it is ("linux-amd64 openssl")
Versions = dict[str, dict[str, str]]


@dataclass
class Inventory:
    info: dict[str, str] = field(default_factory=dict)  # BUNDLE-INFO
    versions: Versions = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)  # every other file -> sha256
    sboms: list[str] = field(default_factory=list)  # one summary line each
    vulnerabilities: dict | None = None  # the report as read, when the bundle has one


def bundle_info(text: str | None) -> dict[str, str]:
    lines = (line for line in (text or "").splitlines() if line and not line.startswith("#"))
    return dict(line.split("=", 1) for line in lines if "=" in line)


def _wheel(name: str) -> tuple[str, str]:
    parts = name[: -len(".whl")].split("-")
    return re.sub(r"[-_.]+", "-", parts[0]).lower(), parts[1] if len(parts) > 1 else "?"


def _deb(name: str) -> tuple[str, str]:
    parts = unquote(name).split("_")
    return parts[0], parts[1] if len(parts) > 1 else "?"


def _platform(entry: dict) -> str:
    p = entry.get("platform") or {}
    return "/".join(x for x in (p.get("os"), p.get("architecture"), p.get("variant")) if x) or "?"


def image_digests(archive: str, parts: dict[str, bytes]) -> dict[str, str]:
    """`<archive> <ref> <platform>` -> manifest digest, from an OCI layout's index.json (one level deep)."""
    out: dict[str, str] = {}
    if "index.json" not in parts:
        return {f"{archive} (no OCI index.json)": "?"}
    for entry in json.loads(parts["index.json"]).get("manifests", []):
        ref = (entry.get("annotations") or {}).get("org.opencontainers.image.ref.name", "")
        digest = entry.get("digest", "?")
        blob = parts.get("blobs/sha256/" + digest.removeprefix("sha256:"))
        nested = json.loads(blob).get("manifests") if blob and entry.get("mediaType") == _INDEX else None
        for child in nested or [entry]:
            out[" ".join(x for x in (archive, ref, _platform(child)) if x)] = child.get("digest", "?")
    return out


def sbom_summary(path: str, doc: dict) -> str:
    components = doc.get("components") or []
    kinds = Counter(c.get("type", "?") for c in components)
    tools = doc.get("metadata", {}).get("tools", {})
    tool_list = tools.get("components", []) if isinstance(tools, dict) else tools
    made_by = ", ".join(f"{t.get('name', '?')} {t.get('version', '')}".strip() for t in tool_list) or "?"
    by_kind = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    return f"{path}: {len(components)} components ({by_kind or 'none'}); {doc.get('bomFormat', '?')} " \
           f"{doc.get('specVersion', '?')}, by {made_by}"


def inventory(bundle: Bundle) -> Inventory:
    inv = Inventory(info=bundle_info(bundle.text(INFO)))
    debs: dict[str, str] = {}
    wheels: dict[str, str] = {}
    images: dict[str, str] = {}
    vendored: dict[str, str] = {}
    for path, digest in sorted(bundle.files.items()):
        if m := _APT.fullmatch(path):
            name, version = _deb(m.group(2))
            debs[f"{m.group(1)} {name}"] = version
        elif m := _WHEEL_DIRS.fullmatch(path):
            name, version = _wheel(m.group(2))
            wheels[f"{m.group(1)} {name}"] = version
        elif path in bundle.images:
            images.update(image_digests(path, bundle.images[path]))
        else:
            if m := _VENDOR.fullmatch(path):  # also among the other files: a rebuilt binary shows there
                vendored[f"{m.group(3)} {m.group(1)}"] = m.group(2)
            inv.other[path] = digest
    inv.versions = {"Debian packages": debs, "Python wheels": wheels, "images": images,
                    "vendored binaries": vendored}
    for path in sorted(p for p in bundle.kept if p.startswith("sbom/") and p.endswith(".json")):
        inv.sboms.append(sbom_summary(path, bundle.json(path) or {}))
    inv.vulnerabilities = bundle.json(VULNERABILITIES)
    return inv


def vulnerability_lines(report: dict) -> list[str]:
    """Counts, then every unwaived finding, then what no source could check."""
    findings = report.get("findings") or []
    unwaived = [f for f in findings if not f.get("waived")]
    not_checked = report.get("not_checked") or []
    lines = [f"generated {report.get('generated', '?')} from {report.get('source', '?')}: "
             f"{len(findings)} findings, {len(findings) - len(unwaived)} waived, {len(unwaived)} unwaived; "
             f"{len(not_checked)} parts not checked"]
    for f in unwaived:
        aliases = ", ".join(f.get("aliases") or [])
        fixed = ", ".join(f.get("fix_versions") or []) or "none yet"
        lines.append(f"UNWAIVED {f.get('package', '?')} {f.get('version', '?')}: {f.get('id', '?')}"
                     f"{f' ({aliases})' if aliases else ''}; fixed in {fixed}")
    for f in findings:
        if f.get("waived"):
            lines.append(f"waived {f.get('package', '?')} {f.get('version', '?')}: {f.get('id', '?')} until "
                         f"{f.get('expiry', '?')} ({f.get('reason', '')})")
    for item in not_checked:
        what = item.get("component", "?") if isinstance(item, dict) else str(item)
        why = item.get("reason", "") if isinstance(item, dict) else ""
        lines.append(f"not checked: {what}{f' ({why})' if why else ''}")
    return lines
