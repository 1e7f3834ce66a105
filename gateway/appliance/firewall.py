"""Per-host firewall rules from the manifest flows: an nftables ruleset and, for firewalld hosts, a zone and a policy.

Everything is denied unless a flow allows it; each flow becomes one commented rule per address family.
The `canonical()` form of each rule is what the audit compares with `nft -j list ruleset`. Every host
gets the nft file (auditors read it); hosts with `firewall: firewalld` also get the same rules as a
firewalld zone (ingress) and, with egress drop, a firewalld policy (egress), both from `rules_for()`.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from gateway.appliance.files import header
from gateway.appliance.manifest import Flow, Manifest

TABLE = "appliance"  # one table of our own: reloading it never touches other tables
DROP_COMMENT = "drop: not in the manifest"
ZONE = TABLE  # the firewalld zone: /etc/firewalld/zones/appliance.xml, the default zone
EGRESS_POLICY = "appliance-egress"  # /etc/firewalld/policies/<name>.xml; firewalld allows 17 characters
# IPv6 neighbour discovery the host must send (nft name -> firewalld icmptype), or IPv6 stops working.
_ND_OUT = {
    "nd-neighbor-solicit": "neighbour-solicitation",
    "nd-neighbor-advert": "neighbour-advertisement",
    "nd-router-solicit": "router-solicitation",
}

# (nft statement, canonical form as the audit reads it back from `nft -j`), per chain.
_BASE_IN = [
    (
        'ct state established,related accept comment "base: replies to allowed traffic"',
        "ct state in established,related accept",
    ),
    ('ct state invalid drop comment "base: invalid packets"', "ct state in invalid drop"),
    ('iif "lo" accept comment "base: loopback"', "meta iif == lo accept"),
    (
        "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept "
        'comment "base: IPv6 neighbour discovery"',
        "icmpv6 type == {nd-neighbor-advert,nd-neighbor-solicit,nd-router-advert} accept",
    ),
]
_BASE_OUT = [
    (
        'ct state established,related accept comment "base: replies to allowed traffic"',
        "ct state in established,related accept",
    ),
    ('oif "lo" accept comment "base: loopback"', "meta oif == lo accept"),
    (
        f"icmpv6 type {{ {', '.join(_ND_OUT)} }} accept "
        'comment "base: IPv6 neighbour discovery"',
        f"icmpv6 type == {{{','.join(sorted(_ND_OUT))}}} accept",
    ),
]
_TAIL = (f'counter comment "{DROP_COMMENT}"', "counter")


@dataclass(frozen=True)
class Rule:
    """One accept rule for one flow and one address family."""

    chain: str  # input or output
    family: str  # ip or ip6
    field: str  # saddr or daddr
    addrs: tuple[str, ...]
    proto: str
    port: int
    comment: str

    def nft(self) -> str:
        addrs = ", ".join(self.addrs)
        return (
            f"{self.family} {self.field} {{ {addrs} }} {self.proto} dport {self.port} "
            f"accept comment {_nft_string(self.comment)}"
        )

    def canonical(self) -> str:
        addrs = self.addrs[0] if len(self.addrs) == 1 else "{" + ",".join(sorted(self.addrs)) + "}"
        return f"{self.family} {self.field} == {addrs} {self.proto} dport == {self.port} accept"


def _nft_string(text: str) -> str:
    # nft comments are limited to 128 bytes and cannot contain double quotes.
    return '"' + text.replace('"', "'")[:120] + '"'


def _split(addrs: list[str]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for a in addrs:
        fam = "ip" if ipaddress.ip_network(a, strict=False).version == 4 else "ip6"
        out.setdefault(fam, []).append(a)
    return {
        f: tuple(sorted(set(v), key=lambda x: ipaddress.ip_network(x, strict=False))) for f, v in out.items()
    }


def flow_label(m: Manifest, i: int, f: Flow) -> str:
    return f"flow {i + 1}: {f.source} -> {f.to} ({f.purpose} Approved: {f.approver})"


def source_addresses(m: Manifest, name: str) -> list[str]:
    net = m.network(name)
    return [net.cidr] if net is not None else list(m.host(name).addresses)


def rules_for(m: Manifest, host: str) -> list[Rule]:
    """Input rules for flows to this host's services, output rules for flows it starts (egress drop),
    including those to external services (their addresses, their port)."""
    rules: list[Rule] = []
    for i, f in enumerate(m.flows):
        label = flow_label(m, i, f)
        x = m.external(f.to)
        if x is not None:  # leaves the appliance: only the source host has a rule
            if f.source == host and m.firewall.egress == "drop":
                for fam, addrs in _split(list(x.addresses)).items():
                    rules.append(Rule("output", fam, "daddr", addrs, x.protocol, x.port, label))
            continue
        s = m.service(f.to)
        if s.host == host:
            for fam, addrs in _split(source_addresses(m, f.source)).items():
                rules.append(Rule("input", fam, "saddr", addrs, s.protocol, s.port, label))
        if f.source == host and m.firewall.egress == "drop":
            for fam, addrs in _split(list(m.host(s.host).addresses)).items():
                rules.append(Rule("output", fam, "daddr", addrs, s.protocol, s.port, label))
    return rules


def expected_chains(m: Manifest, host: str) -> dict[str, tuple[str, list[str]]]:
    """chain -> (policy, canonical rules in order); the audit's reference."""
    rules = rules_for(m, host)
    chains = {
        "input": (
            "drop",
            [c for _, c in _BASE_IN] + [r.canonical() for r in rules if r.chain == "input"] + [_TAIL[1]],
        ),
        "forward": ("drop", []),
    }
    if m.firewall.egress == "drop":
        chains["output"] = (
            "drop",
            [c for _, c in _BASE_OUT] + [r.canonical() for r in rules if r.chain == "output"] + [_TAIL[1]],
        )
    else:
        chains["output"] = ("accept", [])
    return chains


def nftables(m: Manifest, host: str, manifest_name: str, sha256: str) -> str:
    h = m.host(host)
    rules = rules_for(m, host)
    out = [
        "#!/usr/sbin/nft -f",
        header(manifest_name, sha256, "# ").rstrip("\n"),
        f"# Host {h.name} ({', '.join(h.addresses)}); roles: {', '.join(h.roles) or 'none'}.",
        "# Only this table is replaced, so rules of other tables (if any) stay; the audit reports them.",
        f"table inet {TABLE}",
        f"delete table inet {TABLE}",
        "",
        f"table inet {TABLE} {{",
    ]

    def chain(name: str, hook: str, policy: str, base: list, body: list[Rule], tail: bool) -> None:
        out.append(f"    chain {name} {{")
        out.append(f"        type filter hook {hook} priority filter; policy {policy};")
        out.extend(f"        {stmt}" for stmt, _ in base)
        out.extend(f"        {r.nft()}" for r in body)
        if tail:
            out.append(f"        {_TAIL[0]}")
        out.append("    }")

    chain("input", "input", "drop", _BASE_IN, [r for r in rules if r.chain == "input"], True)
    chain("forward", "forward", "drop", [], [], False)
    if m.firewall.egress == "drop":
        chain("output", "output", "drop", _BASE_OUT, [r for r in rules if r.chain == "output"], True)
    else:
        chain("output", "output", "accept", [], [], False)
    out.append("}")
    return "\n".join(out) + "\n"


def files(m: Manifest, host: str) -> dict[str, str]:
    """Generated firewall file (relative to the output) -> what it is, for one host."""
    out = {f"firewall/{host}.nft": "nft"}
    if m.host(host).firewall == "firewalld":
        out[f"firewall/{host}.firewalld.xml"] = "zone"
        if m.firewall.egress == "drop":
            out[f"firewall/{host}.firewalld-policy.xml"] = "policy"
    return out


def render(kind: str, m: Manifest, host: str, manifest_name: str, sha256: str) -> str:
    return {"nft": nftables, "zone": firewalld_zone, "policy": firewalld_policy}[kind](
        m, host, manifest_name, sha256
    )


def _xml(root: ET.Element, manifest_name: str, sha256: str, install: str) -> str:
    """The document: declaration, the generated-by comment (ElementTree writes no prolog), `root` indented."""
    hdr = header(manifest_name, sha256, "  ").rstrip("\n")
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n<!--\n{hdr}\n  {install}\n-->\n{body}\n'


def _comment(parent: ET.Element, text: str) -> None:
    # A comment is not parsed for markup; it only may not hold "--" (or end with "-").
    while "--" in text:
        text = text.replace("--", "-")
    parent.append(ET.Comment(f" {text.rstrip('-')} "))


def _rich_rules(parent: ET.Element, r: Rule, where: str) -> None:
    """One rich rule per address of a Rule: `where` is source (ingress) or destination (egress)."""
    _comment(parent, r.comment)
    for a in r.addrs:
        rule = ET.SubElement(parent, "rule", family="ipv4" if r.family == "ip" else "ipv6")
        ET.SubElement(rule, where, address=a)
        ET.SubElement(rule, "port", port=str(r.port), protocol=r.proto)
        ET.SubElement(rule, "accept")


def firewalld_zone(m: Manifest, host: str, manifest_name: str, sha256: str) -> str:
    """Ingress: the flows to this host's services. A zone filters nothing outbound (see firewalld_policy)."""
    zone = ET.Element("zone", target="DROP")
    ET.SubElement(zone, "short").text = ZONE
    ET.SubElement(zone, "description").text = f"Flows of {m.site.name} to {host}; everything else is dropped."
    for r in rules_for(m, host):
        if r.chain == "input":
            _rich_rules(zone, r, "source")
    return _xml(zone, manifest_name, sha256, f"Install as /etc/firewalld/zones/{ZONE}.xml on {host} and make it "
                "the default zone (the firewall role does both).")


def firewalld_policy(m: Manifest, host: str, manifest_name: str, sha256: str) -> str:
    """Egress (firewall.egress: drop): HOST -> ANY, target DROP, accepting the flows this host starts.

    firewalld accepts replies (established, related) and loopback before any policy, as the nft
    output chain does; IPv6 neighbour discovery is accepted here like the nft file's base rule.
    """
    policy = ET.Element("policy", target="DROP")
    ET.SubElement(policy, "ingress-zone", name="HOST")
    ET.SubElement(policy, "egress-zone", name="ANY")
    ET.SubElement(policy, "short").text = EGRESS_POLICY
    ET.SubElement(policy, "description").text = (
        f"Connections {host} may open (flows of {m.site.name}); everything else is dropped.")
    _comment(policy, "base: IPv6 neighbour discovery")
    for icmp in _ND_OUT.values():
        rule = ET.SubElement(policy, "rule", family="ipv6")
        ET.SubElement(rule, "icmp-type", name=icmp)
        ET.SubElement(rule, "accept")
    for r in rules_for(m, host):
        if r.chain == "output":
            _rich_rules(policy, r, "destination")
    return _xml(policy, manifest_name, sha256,
                f"Install as /etc/firewalld/policies/{EGRESS_POLICY}.xml on {host} (firewalld 0.9 or later).")
