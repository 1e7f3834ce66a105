"""Generated firewall rules: nft accepts every file, one commented rule per flow, nothing else open."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from gateway.appliance import firewall
from gateway.appliance.generate import documents
from tests.appliance.conftest import EXAMPLE_NAMES, require_root, require_tool


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
    flows_in = [f for f in m.flows if m.service(f.to).host == "db1"]
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


def test_firewalld_zone_only_for_rhel_hosts_and_accepted_by_firewalld(example, tmp_path):
    offline = require_tool("firewall-offline-cmd", "firewalld")
    docs = documents(example("ha"), render=False)
    zones = sorted(k for k in docs if k.endswith(".firewalld.xml"))
    assert zones == ["firewall/db1.firewalld.xml"]
    (tmp_path / "zones").mkdir()
    shutil.copy("/etc/firewalld/firewalld.conf", tmp_path / "firewalld.conf")
    (tmp_path / "zones" / "appliance.xml").write_text(docs[zones[0]])
    check = subprocess.run(
        [offline, "--system-config", str(tmp_path), "--check-config"], capture_output=True, text=True
    )
    assert check.returncode == 0 and "WARNING" not in check.stdout + check.stderr, check.stdout + check.stderr
    rich = subprocess.run(
        [offline, "--system-config", str(tmp_path), "--zone=appliance", "--list-rich-rules"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert sorted(rich) == sorted(
        [
            'rule family="ipv4" source address="198.18.1.11" port port="5432" protocol="tcp" accept',
            'rule family="ipv4" source address="198.18.1.12" port port="5432" protocol="tcp" accept',
            'rule family="ipv4" source address="198.19.10.0/24" port port="22" protocol="tcp" accept',
        ]
    )
