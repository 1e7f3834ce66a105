"""Compares what a host enforces and listens on with the manifest; every difference is a finding.

Inputs are the `nft -j list ruleset` document and the kernel's socket tables (/proc/net/*), both read
from the network namespace the audit runs in, so `ip netns exec X` audits namespace X. Either can be a
file collected earlier, so an auditor can check evidence away from the host. The installed certificates
and CRLs are audited too (`audit_certificates`): what expires within the warning window is a finding.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from gateway.appliance import expiry
from gateway.appliance.errors import ToolError
from gateway.appliance.firewall import DROP_COMMENT, TABLE, expected_chains
from gateway.appliance.manifest import Manifest


@dataclass(frozen=True, order=True)
class Listener:
    proto: str
    address: str
    port: int

    def __str__(self) -> str:
        addr = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.proto} {addr}:{self.port}"


@dataclass(frozen=True)
class Report:
    findings: list[str]
    notes: list[str]

    @property
    def clean(self) -> bool:
        return not self.findings


def read_ruleset() -> dict:
    nft = shutil.which("nft")
    if nft is None:
        raise ToolError("nft not found: install the nftables package (the audit reads `nft -j list ruleset`)")
    proc = subprocess.run([nft, "-j", "list", "ruleset"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise ToolError(
            f"`nft -j list ruleset` failed ({proc.returncode}): {proc.stderr.strip()} (run as root)"
        )
    return json.loads(proc.stdout)


def _value(v) -> str:
    if isinstance(v, dict):
        if "set" in v:
            items = sorted(_value(x) for x in v["set"])
            return items[0] if len(items) == 1 else "{" + ",".join(items) + "}"
        if "prefix" in v:
            return f"{v['prefix']['addr']}/{v['prefix']['len']}"
        if "range" in v:
            return "-".join(_value(x) for x in v["range"])
        return json.dumps(v, sort_keys=True)
    if isinstance(v, list):
        return ",".join(sorted(_value(x) for x in v))
    return str(v)


def _left(v: dict) -> str:
    if "payload" in v:
        return f"{v['payload']['protocol']} {v['payload']['field']}"
    if "meta" in v:
        return f"meta {v['meta']['key']}"
    if "ct" in v:
        return f"ct {v['ct']['key']}"
    return json.dumps(v, sort_keys=True)


def canonical(expr: list[dict]) -> str:
    """The rule in the same form as firewall.Rule.canonical(); unknown statements stay visible as JSON."""
    parts = []
    for e in expr:
        if "match" in e:
            mt = e["match"]
            parts.append(f"{_left(mt['left'])} {mt['op']} {_value(mt['right'])}")
        elif "counter" in e:
            parts.append("counter")
        elif set(e) & {"accept", "drop", "reject"}:
            parts.append(next(iter(e)))
        else:
            parts.append(json.dumps(e, sort_keys=True))
    return " ".join(parts)


def audit_firewall(m: Manifest, host: str, ruleset: dict) -> Report:
    items = ruleset.get("nftables", [])
    findings: list[str] = []
    notes: list[str] = []
    tables = [(i["table"]["family"], i["table"]["name"]) for i in items if "table" in i]
    for fam, name in tables:
        if (fam, name) != ("inet", TABLE):
            n = sum(
                1 for i in items if "rule" in i and (i["rule"]["family"], i["rule"]["table"]) == (fam, name)
            )
            findings.append(f"table {fam} {name}: not from the manifest ({n} rules)")
    if ("inet", TABLE) not in tables:
        findings.append(f"table inet {TABLE} is missing: the manifest's firewall is not loaded")
        return Report(findings, notes)
    ours = [
        i
        for i in items
        if any(
            i.get(k, {}).get("table") == TABLE and i.get(k, {}).get("family") == "inet"
            for k in ("chain", "rule")
        )
    ]
    chains = {i["chain"]["name"]: i["chain"] for i in ours if "chain" in i}
    rules: dict[str, list[dict]] = {}
    for i in ours:
        if "rule" in i:
            rules.setdefault(i["rule"]["chain"], []).append(i["rule"])
    for name, (policy, want) in expected_chains(m, host).items():
        chain = chains.pop(name, None)
        if chain is None:
            findings.append(f"chain {name}: missing")
            continue
        if chain.get("hook") != name or chain.get("policy") != policy:
            findings.append(
                f"chain {name}: hook {chain.get('hook')} policy {chain.get('policy')}, "
                f"manifest wants hook {name} policy {policy}"
            )
        got = [(canonical(r["expr"]), r.get("comment", "")) for r in rules.get(name, [])]
        findings += _compare_rules(name, want, got)
        for r in rules.get(name, []):
            if r.get("comment") == DROP_COMMENT:
                pkts = next((e["counter"]["packets"] for e in r["expr"] if "counter" in e), None)
                notes.append(f"chain {name}: {pkts} packets dropped (not in the manifest)")
    for name in sorted(chains):
        findings.append(f"chain {name}: not from the manifest ({len(rules.get(name, []))} rules)")
    return Report(findings, notes)


def _compare_rules(chain: str, want: list[str], got: list[tuple[str, str]]) -> list[str]:
    have = Counter(c for c, _ in got)
    need = Counter(want)
    out = []
    for c, comment in got:
        if have[c] > need[c]:
            out.append(f"chain {chain}: extra rule `{c}`" + (f" ({comment})" if comment else ""))
            have[c] -= 1
    for c in want:
        if need[c] > Counter(x for x, _ in got)[c]:
            out.append(f"chain {chain}: missing rule `{c}`")
            need[c] -= 1
    if not out and [c for c, _ in got] != want:
        out.append(f"chain {chain}: rules are in another order than the manifest's")
    return out


def _addr(hexaddr: str) -> str:
    raw = bytes.fromhex(hexaddr)
    # The kernel prints each 32-bit word in host (little-endian) order.
    fixed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(fixed))


def read_listeners(proc_net: Path = Path("/proc/net")) -> list[Listener]:
    """TCP sockets in LISTEN (0A) and unconnected UDP sockets (07), from this namespace's tables."""
    out = set()
    for name, proto, state in (
        ("tcp", "tcp", "0A"),
        ("tcp6", "tcp", "0A"),
        ("udp", "udp", "07"),
        ("udp6", "udp", "07"),
    ):
        path = proc_net / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            f = line.split()
            if len(f) < 4 or f[3] != state:
                continue
            addr, port = f[1].rsplit(":", 1)
            out.add(Listener(proto, _addr(addr), int(port, 16)))
    return sorted(out)


def audit_listeners(m: Manifest, host: str, listeners: list[Listener]) -> Report:
    """Every port reachable from outside must be a service some flow reaches, and each must listen.

    A service behind a TLS front is public on its port (nginx) and its real server listens on loopback at
    the backend port: expected. The backend port on any other address would bypass the front's CRL check.
    """
    reached = {f.to for f in m.flows}
    services = [s for s in m.services if s.host == host]
    wanted = {(s.protocol, s.port): s for s in services if s.name in reached}
    local_only = {(s.protocol, s.port): s for s in services if s.name not in reached}
    backends = {(s.protocol, s.backend): s for s in services if s.fronted}
    findings: list[str] = []
    exposed = [x for x in listeners if not ipaddress.ip_address(x.address).is_loopback]
    for x in exposed:
        key = (x.proto, x.port)
        if key in backends:
            findings.append(
                f"listener {x}: the real server of {backends[key].name} must listen on loopback only, "
                "else clients bypass its TLS front (no CRL check)"
            )
        elif key in local_only:
            findings.append(f"listener {x}: service {local_only[key].name} has no flow; bind it to loopback")
        elif key not in wanted:
            findings.append(f"listener {x}: not in the manifest")
    for key, s in sorted(wanted.items()):
        if not any((x.proto, x.port) == key for x in exposed):
            findings.append(f"service {s.name} ({key[0]}/{key[1]}): flows reach it but nothing listens")
    loopback = {(x.proto, x.port) for x in listeners if ipaddress.ip_address(x.address).is_loopback}
    for key, s in sorted(backends.items()):
        if s.name in reached and key not in loopback:
            findings.append(
                f"service {s.name}: nothing listens on loopback port {key[1]}, the real server behind its TLS front"
            )
    return Report(findings, [])


def audit(m: Manifest, host: str, ruleset: dict, listeners: list[Listener]) -> Report:
    fw = audit_firewall(m, host, ruleset)
    ls = audit_listeners(m, host, listeners)
    return Report(fw.findings + ls.findings, fw.notes + ls.notes)


def audit_certificates(pki_dir: Path, warn_days: int, required: bool = True) -> tuple[Report, list[expiry.Expiry]]:
    """Days to expiry of every installed certificate and CRL as notes; within `warn_days`, findings.

    `required=False` (the default directory, not one the operator named): a host without it is noted.
    """
    if not required and not pki_dir.is_dir():
        return Report([], [f"no installed PKI at {pki_dir}: certificate expiry not audited"]), []
    items = expiry.scan(pki_dir)
    notes = [f"{e.kind} {e.name} ({e.subject}): {e.days:.0f} days left" for e in items]
    return Report(expiry.findings(items, warn_days), notes), items
