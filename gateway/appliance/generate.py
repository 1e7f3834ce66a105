"""One manifest in, every artefact out: firewall rules, HAProxy (TLS fronts, load balancer), Ansible variables,
port map, network docs, PKI."""

from __future__ import annotations

from pathlib import Path

from gateway.appliance import ansible_vars, firewall, haproxy, netdoc, pki, portmap
from gateway.appliance.files import write_text
from gateway.appliance.loader import Loaded

DIAGRAM = "network.svg"
# tls-front/ held the nginx files of earlier versions: what is left there is removed as stale.
PER_HOST_DIRS = ("firewall", "haproxy", "tls-front")


def documents(loaded: Loaded, render: bool = True) -> dict[str, str]:
    """Relative path -> content of every generated text file (no key material; safe to commit)."""
    m, name, sha = loaded.manifest, loaded.path.name, loaded.sha256
    out: dict[str, str] = {}
    for h in m.hosts:
        for rel, kind in firewall.files(m, h.name).items():
            out[rel] = firewall.render(kind, m, h.name, name, sha)
    for host in haproxy.hosts(m):
        out[f"haproxy/{host}.cfg"] = haproxy.config(m, host, name, sha)
    out["ansible-vars.yml"] = ansible_vars.to_yaml(m, name, sha)
    out["portmap.csv"] = portmap.to_csv(m, name, sha)
    out["portmap.md"] = portmap.to_markdown(m, name, sha)
    out["network.dot"] = netdoc.dot(m, name, sha)
    if render:
        out[DIAGRAM] = netdoc.render_svg(out["network.dot"])
    out["network.md"] = netdoc.markdown(m, name, sha, DIAGRAM)
    return out


def generate(loaded: Loaded, out: Path, with_pki: bool = True, render: bool = True) -> list[str]:
    """Writes everything under `out`; returns what changed (documents written, certificates issued)."""
    changed = [rel for rel, text in sorted(documents(loaded, render).items()) if write_text(out / rel, text)]
    stale = {
        p.relative_to(out).as_posix() for d in PER_HOST_DIRS for p in (out / d).glob("*") if p.is_file()
    } - set(documents_names(loaded))
    for rel in sorted(stale):
        (out / rel).unlink()
        changed.append(f"removed {rel}")
    if with_pki:
        changed += pki.ensure(loaded.manifest, out / "pki")
    return changed


def documents_names(loaded: Loaded) -> list[str]:
    """Per-host files the manifest wants; others in PER_HOST_DIRS belong to removed hosts or fronts."""
    m = loaded.manifest
    return [rel for h in m.hosts for rel in firewall.files(m, h.name)] + [
        f"haproxy/{host}.cfg" for host in haproxy.hosts(m)
    ]
