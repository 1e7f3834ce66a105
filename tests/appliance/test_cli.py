"""The standalone CLI: one command produces everything; errors exit 2 with the path of the problem."""

from __future__ import annotations

import argparse
import subprocess
import sys

from gateway.appliance import cli
from tests.appliance.conftest import EXAMPLES, REPO, require_tool


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gateway.appliance", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_generate_produces_ca_certs_firewall_portmap_and_document(tmp_path):
    require_tool("dot", "graphviz")
    out = tmp_path / "ha"
    proc = _run("generate", str(EXAMPLES / "ha" / "appliance.yaml"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    for rel in (
        "pki/root-ca.crt",
        "pki/intermediate-ca.crl",
        "pki/servers/postgresql.crt",
        "pki/clients/gateway.key",
        "firewall/db1.nft",
        "firewall/db1.firewalld.xml",
        "haproxy/cache1.cfg",
        "pki/clients/redis-front.key",
        "portmap.csv",
        "portmap.md",
        "network.md",
        "network.dot",
        "network.svg",
    ):
        assert (out / rel).is_file(), rel
    assert (out / "network.svg").read_text().lstrip().startswith("<?xml")
    again = _run("generate", str(EXAMPLES / "ha" / "appliance.yaml"), "--out", str(out))
    assert again.stdout.strip().endswith(": 0 changed")
    renew = _run("renew", str(EXAMPLES / "ha" / "appliance.yaml"), "--out", str(out))
    assert renew.stdout.strip() == "nothing to renew"
    revoke = _run("revoke", str(EXAMPLES / "ha" / "appliance.yaml"), "--out", str(out), "--client", "gateway")
    assert revoke.returncode == 0 and revoke.stdout.startswith("revoked client gateway serial ")
    renew = _run("renew", str(EXAMPLES / "ha" / "appliance.yaml"), "--out", str(out))
    assert "re-issued client gateway" in renew.stdout


def test_validate_ok_and_error_exit_codes(tmp_path):
    ok = _run("validate", str(EXAMPLES / "single-node" / "appliance.yaml"))
    assert ok.returncode == 0 and "valid (1 hosts" in ok.stdout
    bad = tmp_path / "appliance.yaml"
    bad.write_text(
        (EXAMPLES / "single-node" / "appliance.yaml").read_text().replace("port: 6379", "port: 70000")
    )
    proc = _run("validate", str(bad))
    assert proc.returncode == 2
    assert "services[3].port: 70000 is not a port" in proc.stderr


def test_audit_from_collected_evidence_exits_1_on_drift(tmp_path):
    ruleset = tmp_path / "ruleset.json"
    ruleset.write_text('{"nftables": [{"metainfo": {"json_schema_version": 1}}]}')
    proc = _run(
        "audit",
        "--manifest",
        str(EXAMPLES / "ha" / "appliance.yaml"),
        "--host",
        "db1",
        "--ruleset",
        str(ruleset),
        "--proc-net",
        str(tmp_path),
    )
    assert proc.returncode == 1
    assert "DRIFT: table inet appliance is missing" in proc.stdout
    assert "DRIFT: service postgresql (tcp/5432): flows reach it but nothing listens" in proc.stdout


def test_register_adds_the_appliance_subcommand():
    parser = argparse.ArgumentParser(prog="gateway")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["appliance", "validate", str(EXAMPLES / "ha" / "appliance.yaml")])
    assert args.handler is cli.run and args.handler(args) == 0
