"""The port map: one row per flow, with its certificate identities, purpose, approver and controls.

The same rows feed the CSV, the Markdown table and the network document, so they cannot disagree.
"""

from __future__ import annotations

import csv
import io
from dataclasses import astuple, dataclass, fields

from gateway.appliance.files import header
from gateway.appliance.firewall import source_addresses
from gateway.appliance.manifest import ExternalService, Flow, Manifest
from gateway.appliance.tlsfront import checked_by

# Why every flow satisfies these: it is denied by default and allowed by exception (SC-7(5)), it is a
# documented port with a business need (CM-7, PCI DSS 4.0 1.2.5); TLS adds SC-8(1), client certs IA-3.
BASE_CONTROLS = ("SC-7(5)", "CM-7", "PCI DSS 1.2.5")
EXTERNAL = "external"  # the destination host column of a flow to an external service


@dataclass(frozen=True)
class Row:
    flow: int
    source: str
    source_addresses: str
    service: str
    destination_host: str
    destination_addresses: str
    port: int
    protocol: str
    tls: str
    server_certificate: str
    client_certificate: str
    revocation_checked_by: str
    purpose: str
    approver: str
    controls: str


def controls(m: Manifest, f: Flow) -> list[str]:
    mode = m.destination(f.to).tls.mode
    out = list(BASE_CONTROLS)
    if mode in ("tls", "mtls"):
        out.append("SC-8(1)")
    if mode == "mtls":
        out.append("IA-3")
    return out + [c for c in f.controls if c not in out]


def rows(m: Manifest) -> list[Row]:
    out = []
    for i, f in enumerate(m.flows):
        x = m.external(f.to)
        if x is not None:
            out.append(_external_row(m, i, f, x))
            continue
        s = m.service(f.to)
        h = m.host(s.host)
        tls = s.tls.mode if s.tls.mode != "none" else f"none ({s.tls.reason})"
        out.append(
            Row(
                i + 1,
                f.source,
                " ".join(source_addresses(m, f.source)),
                s.name,
                h.name,
                " ".join(h.addresses),
                s.port,
                s.protocol,
                tls,
                m.fqdn(s.name) if s.tls.mode != "none" else "-",
                f"CN={f.identity}" if f.identity else "-",
                checked_by(s),
                f.purpose,
                f.approver,
                " ".join(controls(m, f)),
            )
        )
    return out


def _external_row(m: Manifest, i: int, f: Flow, x: ExternalService) -> Row:
    """A flow out of the appliance: its host is not ours and its certificate (if tls) is not the site CA's."""
    tls = x.tls.mode if x.tls.mode != "none" else f"none ({x.tls.reason})"
    return Row(
        i + 1,
        f.source,
        " ".join(source_addresses(m, f.source)),
        x.name,
        f"{EXTERNAL} ({x.kind})",
        " ".join(x.addresses),
        x.port,
        x.protocol,
        tls,
        "operator's CA (not the site CA)" if x.tls.mode == "tls" else "-",
        "-",
        "-",
        f.purpose,
        f.approver,
        " ".join(controls(m, f)),
    )


COLUMNS = [f.name for f in fields(Row)]


def to_csv(m: Manifest, manifest_name: str, sha256: str) -> str:
    buf = io.StringIO()
    buf.write(header(manifest_name, sha256, "# "))
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows(m):
        w.writerow(astuple(r))
    return buf.getvalue()


def md_table(m: Manifest) -> str:
    titles = [
        "#",
        "From",
        "Source addresses",
        "Service",
        "Host",
        "Addresses",
        "Port",
        "Proto",
        "TLS",
        "Server cert",
        "Client cert",
        "Revocation checked by",
        "Purpose",
        "Approver",
        "Controls",
    ]
    lines = ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]
    for r in rows(m):
        cells = [str(c).replace("|", "\\|") for c in astuple(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(m: Manifest, manifest_name: str, sha256: str) -> str:
    return (
        f"<!--\n{header(manifest_name, sha256, '')}-->\n\n# Port map: {m.site.name}\n\n"
        "Every port open on any host, and every destination outside the appliance a host may reach, one row "
        "per approved flow; everything else is dropped.\n\n"
        + md_table(m)
    )
