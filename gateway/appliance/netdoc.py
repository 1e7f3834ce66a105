"""The network document: Markdown for auditors plus a Graphviz diagram of hosts, services and flows."""

from __future__ import annotations

import shutil
import subprocess

from gateway.appliance import admission, firewall, haproxy, revocation, tlsfront
from gateway.appliance.errors import ToolError
from gateway.appliance.files import header
from gateway.appliance.manifest import Manifest
from gateway.appliance.pki import wanted_leaves
from gateway.appliance.portmap import BASE_CONTROLS, md_table


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(m: Manifest, manifest_name: str, sha256: str) -> str:
    out = [
        header(manifest_name, sha256, "// ").rstrip("\n"),
        f"digraph {_q(m.site.name)} {{",
        "  rankdir=LR;",
        '  node [shape=box, fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for n in m.admin_networks + m.user_networks:
        out.append(f"  {_q('net:' + n.name)} [label={_q(n.name + chr(10) + n.cidr)}, shape=ellipse];")
    for h in m.hosts:
        out.append(f"  subgraph {_q('cluster_' + h.name)} {{")
        out.append(f"    label={_q(h.name + ' (' + ', '.join(h.addresses) + ')')};")
        out.append(f"    {_q('host:' + h.name)} [label={_q(h.name)}, shape=point];")
        for s in (s for s in m.services if s.host == h.name):
            label = f"{s.name}\n{s.protocol}/{s.port} {s.tls.mode}"
            if s.fronted:
                label += f"\nCRLs: {tlsfront.SOFTWARE} front, backend {tlsfront.LOOPBACK}:{s.backend}"
            out.append(f"    {_q('svc:' + s.name)} [label={_q(label)}];")
        out.append("  }")
    for x in m.external_services:
        label = f"{x.name} ({x.kind}, external)\n{', '.join(x.addresses)}\n{x.protocol}/{x.port} {x.tls.mode}"
        out.append(f"  {_q('ext:' + x.name)} [label={_q(label)}, shape=box, style=dashed];")
    for i, f in enumerate(m.flows):
        src = f"net:{f.source}" if m.network(f.source) else f"host:{f.source}"
        x = m.external(f.to)
        d = x or m.service(f.to)
        style = {"mtls": "bold", "tls": "solid", "none": "dashed"}[d.tls.mode]
        out.append(
            f"  {_q(src)} -> {_q(('ext:' if x else 'svc:') + d.name)} [label={_q(f'{i + 1}: {d.port} {d.tls.mode}')}, "
            f"style={style}];"
        )
    out.append("}")
    return "\n".join(out) + "\n"


def render_svg(dot_source: str) -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise ToolError(
            "`dot` not found: install Graphviz (Debian: apt-get install graphviz) or pass --no-render"
        )
    proc = subprocess.run([exe, "-Tsvg"], input=dot_source, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise ToolError(f"dot failed: {proc.stderr.strip()}")
    return proc.stdout


def _fronts(m: Manifest) -> list[str]:
    fronted = m.fronted_services()
    if not fronted:
        return []
    lines = [
        "",
        "## Revocation: TLS fronts",
        "",
        "A client certificate listed in a CRL must be refused by every mtls service. The software below "
        "cannot check CRLs, so HAProxy listens on the service's port instead, refuses missing, "
        "wrong-purpose, foreign and revoked client certificates, and proxies over TLS to the real server on "
        "loopback with its own client certificate; each refusal is logged with the certificate's subject. "
        "HAProxy reads the CRLs at (re)load only: reload it after `revoke` and `renew`.",
        "",
        "| Service | Host | Listens on | Real server | Front identity | Why a front | File |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in fronted:
        listen = ", ".join(f"{a}:{s.port}" for a in tlsfront.listen_addresses(m, s))
        lines.append(
            f"| {s.name} | {s.host} | {listen} | {tlsfront.LOOPBACK}:{s.backend} (TLS) | "
            f"CN={revocation.front_identity(s.name)} | {revocation.support(s.kind, s.software).how} | "
            f"haproxy/{s.host}.cfg |"
        )
    return lines


def _externals(m: Manifest) -> list[str]:
    """Endpoints outside the appliance (the operator's LLM servers) and the hosts that may reach them."""
    if not m.external_services:
        return []
    lines = [
        "",
        "## External services",
        "",
        "Outside the appliance: no host of the site runs them and the site CA issues them no certificate. "
        f"With egress {m.firewall.egress}, "
        + ("only the hosts of their flows may open a connection to them, each through an output rule of "
           "its own firewall." if m.firewall.egress == "drop" else
           "every host may reach them (and anything else); their flows document the need."),
        "",
        "| External service | Kind | Addresses | Port | TLS | Reached from | Description |",
        "|---|---|---|---|---|---|---|",
    ]
    for x in m.external_services:
        tls = x.tls.mode if x.tls.mode != "none" else f"none: {x.tls.reason}"
        sources = ", ".join(f.source for f in m.flows if f.to == x.name) or "nobody (no flow)"
        lines.append(f"| {x.name} | {x.kind} | {', '.join(x.addresses)} | {x.protocol}/{x.port} | {tls} | "
                     f"{sources} | {x.description} |")
    return lines


def _admitted(m: Manifest) -> list[str]:
    """Per mtls port: exactly who is admitted, from where, and what refuses everybody else."""
    rows = []
    for s in (s for s in m.services if s.tls.mode == "mtls"):
        allowed = admission.sources(m, s)
        who = ", ".join(allowed) or "nobody"
        where = "; ".join(f"{name}: {', '.join(p)}" for name, p in allowed.items()) or "-"
        if s.fronted:
            enforcer = f"{tlsfront.SOFTWARE} front, ACL on the certificate's CN (haproxy/{s.host}.cfg)"
        else:
            enforcer = f"{revocation.software_of(s.kind, s.software)}: its client rules from the same list"
        rows.append(f"| {s.name} | {s.host} | {s.protocol}/{s.port} | {who} | {where} | {enforcer} |")
    if not rows:
        return []
    return [
        "",
        "## Admitted client identities, per port",
        "",
        "A client certificate of the site CA is not enough: each mtls port admits exactly the identities of "
        "the flows to its service (from the flow's source) and the service's `local_clients` (from loopback). "
        "Any other identity is refused before a byte reaches the server, and the refusal is logged with the "
        "certificate's subject.",
        "",
        "| Service | Host | Port | Admitted (certificate CN) | From | Enforced by |",
        "|---|---|---|---|---|---|",
        *rows,
    ]


def _firewall_cell(m: Manifest, host: str) -> str:
    """`nftables: firewall/h.nft`, or the firewalld files with the nft file as the rules' reference form."""
    generated = firewall.files(m, host)
    if m.host(host).firewall == "nftables":
        return f"nftables: {', '.join(generated)}"
    xml = [rel for rel, kind in generated.items() if kind != "nft"]
    nft = next(rel for rel, kind in generated.items() if kind == "nft")
    return f"firewalld: {', '.join(xml)} (same rules in nft form: {nft})"


def markdown(m: Manifest, manifest_name: str, sha256: str, diagram: str) -> str:
    ca = m.ca
    lines = [
        f"<!--\n{header(manifest_name, sha256, '')}-->",
        "",
        f"# Network document: {m.site.name}",
        "",
        m.site.description or "",
        "",
        f"![Flows between hosts and services]({diagram})",
        "",
        "Bold edges are mutual TLS, solid edges TLS, dashed edges unencrypted (with a recorded reason).",
        "",
        "## Hosts",
        "",
        "| Host | Addresses | Roles | OS | Firewall | HAProxy (TLS fronts, load balancer) |",
        "|---|---|---|---|---|---|",
    ]
    fronts = haproxy.hosts(m)
    for h in m.hosts:
        fw = _firewall_cell(m, h.name)
        front = f"haproxy/{h.name}.cfg" if h.name in fronts else "-"
        lines.append(f"| {h.name} | {', '.join(h.addresses)} | {', '.join(h.roles)} | {h.os} | {fw} | {front} |")
    lines += ["", "## External networks", "", "| Network | CIDR | Kind | Description |", "|---|---|---|---|"]
    for kind, nets in (("admin", m.admin_networks), ("users", m.user_networks)):
        lines += [f"| {n.name} | {n.cidr} | {kind} | {n.description} |" for n in nets]
    lines += [
        "",
        "## Services",
        "",
        "| Service | Kind | Host | Port | TLS | Software | Revocation checked by |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in m.services:
        tls = s.tls.mode if s.tls.mode != "none" else f"none: {s.tls.reason}"
        lines.append(
            f"| {s.name} | {s.kind} | {s.host} | {s.protocol}/{s.port} | {tls} | {s.software or ''} | "
            f"{tlsfront.checked_by(s)} |"
        )
    lines += _externals(m)
    lines += _admitted(m)
    lines += _fronts(m)
    lines += [
        "",
        "## Flows",
        "",
        "Each row is one firewall rule on the destination host (and, with egress drop, "
        "one on the source host); a flow to an external service is one rule on its source host only. "
        "Nothing else is open.",
        "",
        md_table(m).rstrip("\n"),
        "",
        "## Certificates",
        "",
        f"Root CA (offline, {ca.root_validity_days} days) signs one issuing CA "
        f"({ca.intermediate_validity_days} days), which signs every certificate below "
        f"({ca.leaf_validity_days} days, {ca.key_type}). "
        f"`renew` re-issues what expires within {ca.renew_before_days} days; each CA publishes a CRL "
        f"valid {ca.crl_validity_days} days (intermediate).",
        "",
        "| Certificate | Usage | Subject CN | DNS names | IP addresses |",
        "|---|---|---|---|---|",
    ]
    front_ids = {revocation.front_identity(s.name) for s in m.fronted_services()}
    for leaf in wanted_leaves(m):
        usage = "serverAuth" if leaf.kind == "server" else "clientAuth"
        if leaf.kind == "client" and leaf.name in front_ids:
            usage += " (TLS front to the real server)"
        lines.append(
            f"| {leaf.kind}s/{leaf.name}.crt | {usage} | {leaf.common_name} | {', '.join(leaf.dns)} | "
            f"{', '.join(leaf.ips)} |"
        )
    lines += [
        "",
        "## Controls",
        "",
        f"Every flow: {', '.join(BASE_CONTROLS)} (denied by default, allowed by exception, documented "
        "purpose and approver). TLS flows add SC-8(1); mutual TLS adds IA-3 (device authentication by "
        "client certificate). Unencrypted services name their reason above.",
        "",
    ]
    return "\n".join(lines)
