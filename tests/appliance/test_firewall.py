"""Generated firewall rules: nft and firewalld accept every file, one commented rule per flow, nothing else open."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml

from gateway.appliance import firewall
from gateway.appliance.generate import documents
from gateway.appliance.loader import parse
from tests.appliance.conftest import EXAMPLE_NAMES, EXAMPLES, require_root, require_tool


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_nft_accepts_every_generated_ruleset(example, name, tmp_path):
    require_root()
    nft = require_tool("nft", "nftables")
    files = {k: v for k, v in documents(example(name), render=False).items() if k.endswith(".nft")}
    assert len(files) == len(example(name).manifest.hosts)
    for rel, text in files.items():
        path = tmp_path / rel.replace("/", "_")
        path.write_text(text)
        proc = subprocess.run([nft, "-c", "-f", str(path)], capture_output=True, text=True)
        assert proc.returncode == 0, f"{rel}: {proc.stderr}"


def test_one_commented_rule_per_flow_and_default_drop(example):
    loaded = example("ha")
    m = loaded.manifest
    text = firewall.nftables(m, "db1", "appliance.yaml", loaded.sha256)
    assert "table inet appliance {" in text
    assert text.count("policy drop;") == 3  # input, forward, output
    accepts = [ln.strip() for ln in text.splitlines() if " dport " in ln]
    flows_in = [f for f in m.flows if not m.external(f.to) and m.service(f.to).host == "db1"]
    assert len(accepts) == len(flows_in) == 3
    for line in accepts:
        assert re.search(r'accept comment "flow \d+: ', line)
    assert 'ip saddr { 198.18.1.11 } tcp dport 5432 accept comment "flow 4: gw1 -> postgresql' in text
    assert "ip saddr { 198.19.10.0/24 } tcp dport 22" in text
    assert not re.search(r"dport (6379|9000|4000)", text)


def test_egress_rules_follow_flows_from_the_host(example):
    loaded = example("ha")
    text = firewall.nftables(loaded.manifest, "gw1", "appliance.yaml", loaded.sha256)
    out = text.split("chain output")[1]
    for port, addr in (
        (5432, "198.18.1.20"),
        (6379, "198.18.1.21"),
        (9000, "198.18.1.22"),
        (4317, "198.18.1.23"),
    ):
        assert f"ip daddr {{ {addr} }} tcp dport {port} accept" in out


def _ha(**changes) -> dict:
    """The HA example with changes: hosts={name: {field: value}}, firewall={...}."""
    data = yaml.safe_load((EXAMPLES / "ha" / "appliance.yaml").read_text())
    for host in data["hosts"]:
        host.update(changes.get("hosts", {}).get(host["name"], {}))
    data["firewall"] = {**data.get("firewall", {}), **changes.get("firewall", {})}
    return data


def _manifest(data: dict):
    return parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")


def _rules(xml: str) -> list[dict]:
    """Each rich rule as {family, source|destination, port, protocol, icmp-type, action}."""
    out = []
    for rule in ET.fromstring(xml).findall("rule"):
        r = {"family": rule.get("family")}
        for child in rule:
            if child.tag in ("source", "destination"):
                r[child.tag] = child.get("address")
            elif child.tag == "port":
                r["port"], r["protocol"] = int(child.get("port")), child.get("protocol")
            elif child.tag == "icmp-type":
                r["icmp-type"] = child.get("name")
            else:
                r["action"] = child.tag
        out.append(r)
    return out


def test_firewalld_files_only_for_firewalld_hosts_default_by_os(example):
    docs = documents(example("ha"), render=False)
    assert sorted(k for k in docs if ".firewalld" in k) == [
        "firewall/db1.firewalld-policy.xml",  # os: rhel -> firewall: firewalld
        "firewall/db1.firewalld.xml",
    ]
    assert len([k for k in docs if k.endswith(".nft")]) == 7  # every host keeps its nft file
    m = _manifest(_ha(hosts={"gw1": {"firewall": "firewalld"}, "db1": {"firewall": "nftables"}}))
    assert firewall.files(m, "gw1") == {
        "firewall/gw1.nft": "nft",
        "firewall/gw1.firewalld.xml": "zone",
        "firewall/gw1.firewalld-policy.xml": "policy",
    }
    assert firewall.files(m, "db1") == {"firewall/db1.nft": "nft"}


def test_zone_drops_by_default_and_accepts_each_flow_source_on_its_port(example):
    loaded = example("ha")
    root = ET.fromstring(firewall.firewalld_zone(loaded.manifest, "db1", "appliance.yaml", loaded.sha256))
    assert (root.tag, root.get("target"), root.findtext("short")) == ("zone", "DROP", firewall.ZONE)
    assert _rules(firewall.firewalld_zone(loaded.manifest, "db1", "appliance.yaml", loaded.sha256)) == [
        {"family": "ipv4", "source": "198.18.1.11", "port": 5432, "protocol": "tcp", "action": "accept"},
        {"family": "ipv4", "source": "198.18.1.12", "port": 5432, "protocol": "tcp", "action": "accept"},
        {"family": "ipv4", "source": "198.19.10.0/24", "port": 22, "protocol": "tcp", "action": "accept"},
    ]


def test_zone_and_policy_carry_the_nft_rules_of_the_host(example):
    """One source of truth: the XML holds exactly rules_for()'s input and output rules, address by address."""
    m = _manifest(_ha(hosts={"gw1": {"firewall": "firewalld"}}))
    want = {
        (r.chain, "ipv4" if r.family == "ip" else "ipv6", a, r.port, r.proto)
        for r in firewall.rules_for(m, "gw1")
        for a in r.addrs
    }
    zone = _rules(firewall.firewalld_zone(m, "gw1", "appliance.yaml", "0" * 64))
    policy = [r for r in _rules(firewall.firewalld_policy(m, "gw1", "appliance.yaml", "0" * 64)) if "port" in r]
    have = {("input", r["family"], r["source"], r["port"], r["protocol"]) for r in zone} | {
        ("output", r["family"], r["destination"], r["port"], r["protocol"]) for r in policy
    }
    assert have == want and len(zone) + len(policy) == len(want)


def test_egress_policy_drops_from_the_host_to_any_zone_except_its_flows():
    m = _manifest(_ha(hosts={"gw1": {"firewall": "firewalld"}}))
    xml = firewall.firewalld_policy(m, "gw1", "appliance.yaml", "0" * 64)
    root = ET.fromstring(xml)
    assert (root.tag, root.get("target"), root.findtext("short")) == ("policy", "DROP", firewall.EGRESS_POLICY)
    assert [z.get("name") for z in root.findall("ingress-zone")] == ["HOST"]
    assert [z.get("name") for z in root.findall("egress-zone")] == ["ANY"]
    flows = [r for r in _rules(xml) if "port" in r]
    assert flows == [
        {"family": "ipv4", "destination": addr, "port": port, "protocol": "tcp", "action": "accept"}
        for addr, port in (("198.18.1.20", 5432), ("198.18.1.21", 6379), ("198.18.1.22", 9000), ("198.18.1.23", 4317),
                           ("198.18.50.0/28", 8443))  # the last: the external llm-upstream pool
    ]
    assert len(firewall.EGRESS_POLICY) <= 17  # firewalld's limit for policy names


def test_egress_policy_keeps_ipv6_neighbour_discovery_like_the_nft_output_chain():
    m = _manifest(_ha(hosts={"db1": {"addresses": ["2001:db8::20"]}}))
    xml = firewall.firewalld_policy(m, "db1", "appliance.yaml", "0" * 64)
    nd = [r for r in _rules(xml) if "icmp-type" in r]
    assert nd == [
        {"family": "ipv6", "icmp-type": name, "action": "accept"}
        for name in ("neighbour-solicitation", "neighbour-advertisement", "router-solicitation")
    ]
    nft = firewall.nftables(m, "db1", "appliance.yaml", "0" * 64).split("chain output")[1]
    assert "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept" in nft


def test_egress_accept_means_no_policy_file():
    m = _manifest(_ha(firewall={"egress": "accept"}))
    assert firewall.files(m, "db1") == {"firewall/db1.nft": "nft", "firewall/db1.firewalld.xml": "zone"}


def test_flow_comments_stay_valid_xml_comments():
    data = _ha(hosts={"gw1": {"firewall": "firewalld"}})
    data["flows"][3]["purpose"] = "Keys -- budgets <and> spend logs-"
    m = _manifest(data)
    xml = firewall.firewalld_policy(m, "gw1", "appliance.yaml", "0" * 64)
    ET.fromstring(xml)  # parses
    assert "<!-- flow 4: gw1 -> postgresql (Keys - budgets <and> spend logs- Approved:" in xml


def test_firewalld_accepts_the_generated_zone_and_policy(tmp_path):
    offline = require_tool("firewall-offline-cmd", "firewalld")
    m = _manifest(_ha(hosts={"gw1": {"firewall": "firewalld"}}))
    for sub, text in (
        ("zones", firewall.firewalld_zone(m, "gw1", "appliance.yaml", "0" * 64)),
        ("policies", firewall.firewalld_policy(m, "gw1", "appliance.yaml", "0" * 64)),
    ):
        (tmp_path / sub).mkdir()
        name = firewall.ZONE if sub == "zones" else firewall.EGRESS_POLICY
        (tmp_path / sub / f"{name}.xml").write_text(text)
    shutil.copy("/etc/firewalld/firewalld.conf", tmp_path / "firewalld.conf")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([offline, "--system-config", str(tmp_path), *args], capture_output=True, text=True)

    check = run("--check-config")
    assert check.returncode == 0 and "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr
    assert run(f"--zone={firewall.ZONE}", "--list-rich-rules").stdout.splitlines() == [
        'rule family="ipv4" source address="198.18.1.10" port port="4000" protocol="tcp" accept',
        'rule family="ipv4" source address="198.19.10.0/24" port port="22" protocol="tcp" accept',
    ]
    info = run(f"--info-policy={firewall.EGRESS_POLICY}").stdout
    assert "target: DROP" in info and "ingress-zones: HOST" in info and "egress-zones: ANY" in info, info
    assert 'rule family="ipv4" destination address="198.18.1.20" port port="5432" protocol="tcp" accept' in info
