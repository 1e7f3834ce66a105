"""Namespaces as hosts: the generated ruleset lets declared flows through and drops the rest; the audit
run inside the namespace sees exactly that, and reports an added rule and an extra listener."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from gateway.appliance.generate import documents
from tests.appliance.conftest import EXAMPLES, REPO, require_root, require_tool
from tests.appliance.netns import connect, drops, listen, sh, two_hosts

MANIFEST = EXAMPLES / "ha" / "appliance.yaml"
GW1, DB1 = "198.18.1.11", "198.18.1.20"

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def _audit(ns: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            ns,
            sys.executable,
            "-m",
            "gateway.appliance",
            "audit",
            "--manifest",
            str(MANIFEST),
            "--host",
            "db1",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )


def test_database_namespace_enforces_the_manifest_and_audit_sees_drift(example, tmp_path):
    require_root()
    require_tool("nft", "nftables")
    require_tool("ip", "iproute2")
    ruleset = tmp_path / "db1.nft"
    ruleset.write_text(documents(example("ha"), render=False)["firewall/db1.nft"])
    with two_hosts(GW1, DB1) as (gw, db, procs):
        sh("ip", "netns", "exec", db, "nft", "-f", str(ruleset))
        listen(db, procs, 5432, 22)
        report = _audit(db)
        assert report.returncode == 0, report.stdout + report.stderr
        assert json.loads(report.stdout)["findings"] == []

        # The declared flow gw1 -> postgresql connects; an undeclared port is silently dropped.
        assert connect(gw, DB1, 5432) == "hello"
        listen(db, procs, 6380)
        assert connect(db, "127.0.0.1", 6380) == "hello"  # it is listening, so only the firewall stops gw1
        before = drops(db, "input")
        assert connect(gw, DB1, 6380, timeout=1.0) == "timeout"
        assert drops(db, "input") > before

        report = _audit(db)
        assert report.returncode == 1
        assert json.loads(report.stdout)["findings"] == ["listener tcp 0.0.0.0:6380: not in the manifest"]

        sh(
            "ip",
            "netns",
            "exec",
            db,
            "nft",
            "add",
            "rule",
            "inet",
            "appliance",
            "input",
            "tcp",
            "dport",
            "6380",
            "accept",
            "comment",
            '"temporary debug"',
        )
        assert connect(gw, DB1, 6380) == "hello"
        report = _audit(db)
        assert report.returncode == 1
        assert json.loads(report.stdout)["findings"] == [
            "chain input: extra rule `tcp dport == 6380 accept` (temporary debug)",
            "listener tcp 0.0.0.0:6380: not in the manifest",
        ]

        text = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                db,
                sys.executable,
                "-m",
                "gateway.appliance",
                "audit",
                "--manifest",
                str(MANIFEST),
                "--host",
                "db1",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=60,
        ).stdout
        assert "DRIFT: chain input: extra rule `tcp dport == 6380 accept`" in text
        assert "db1: 2 differences" in text


def test_audit_reports_foreign_tables_and_missing_table(example, tmp_path):
    require_root()
    require_tool("nft", "nftables")
    with two_hosts(GW1, DB1) as (gw, db, procs):
        listen(db, procs, 5432, 22)
        report = _audit(db)
        assert report.returncode == 1
        assert (
            "table inet appliance is missing: the manifest's firewall is not loaded"
            in json.loads(report.stdout)["findings"]
        )
        ruleset = tmp_path / "db1.nft"
        ruleset.write_text(documents(example("ha"), render=False)["firewall/db1.nft"])
        sh("ip", "netns", "exec", db, "nft", "-f", str(ruleset))
        sh("ip", "netns", "exec", db, "nft", "add", "table", "ip", "nat")
        assert json.loads(_audit(db).stdout)["findings"] == ["table ip nat: not from the manifest (0 rules)"]
