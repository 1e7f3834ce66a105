"""Certificate and CRL expiry: counted per installed PEM block, flagged within the window, on /metrics too."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.appliance import audit, expiry, pki
from gateway.appliance.errors import PkiError
from gateway.telemetry import certificates
from tests.appliance.conftest import EXAMPLES, REPO

NOW = dt.datetime.now(dt.UTC)


def _pem(cn: str, days: float) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _crl_pem(cn: str, days: float) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    crl = (x509.CertificateRevocationListBuilder()
           .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .last_update(NOW - dt.timedelta(days=10)).next_update(NOW + dt.timedelta(days=days))
           .sign(key, hashes.SHA256()))
    return crl.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def installed(example, tmp_path):
    """The ha example's PKI as a host has it, plus a server chain that runs out in 3 days and one in 300."""
    issued = tmp_path / "out"
    pki.ensure(example("ha").manifest, issued)
    host = tmp_path / "etc-gateway-pki"
    shutil.copytree(issued, host, ignore=shutil.ignore_patterns("*.key", "revoked.json"))
    (host / "servers/soon.chain.pem").write_bytes(_pem("soon.lab", 3) + (host / "intermediate-ca.crt").read_bytes())
    (host / "servers/later.chain.pem").write_bytes(_pem("later.lab", 300))
    return host


def test_each_certificate_and_crl_is_counted_and_only_what_runs_out_within_the_window_is_flagged(installed):
    items = expiry.scan(installed, NOW)
    by_name = {e.name: e for e in items}
    assert round(by_name["servers/soon.chain.pem#0"].days) == 3
    assert round(by_name["servers/later.chain.pem#0"].days) == 300
    assert by_name["servers/soon.chain.pem#1"].subject == by_name["intermediate-ca.crt#0"].subject
    assert {e.kind for e in items} == {"certificate", "crl"} and items[0].name == "servers/soon.chain.pem#0"
    assert sum(1 for e in items if e.name.startswith("crl-bundle.pem#")) == 2  # root and intermediate CRLs
    found = expiry.findings(items, warn_days=30)
    assert len(found) == 1 and found[0].startswith("certificate servers/soon.chain.pem#0 (soon.lab): expires in 3 days")
    assert "gateway appliance renew" in found[0] and "--tags pki" in found[0]


def test_a_crl_past_its_next_update_is_a_finding(tmp_path):
    (tmp_path / "old.crl").write_bytes(_crl_pem("Lab Intermediate", -2))
    [found] = expiry.findings(expiry.scan(tmp_path, NOW), warn_days=30)
    assert found.startswith("CRL, next update due, old.crl#0 (Lab Intermediate): expired 2 days ago")


def test_a_damaged_pem_block_is_named_by_file_and_place(tmp_path):
    damaged = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    (tmp_path / "bad.pem").write_bytes(_pem("ok", 10) + damaged)
    with pytest.raises(PkiError, match=r"bad.pem: PEM block 1 is not a valid certificate or CRL"):
        expiry.scan(tmp_path)


def _audit_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "appliance", "audit", "--manifest",
                           str(EXAMPLES / "ha" / "appliance.yaml"), "--host", "gw1", "--certificates-only", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=120)


def test_audit_exits_1_on_a_certificate_within_the_manifests_renewal_window_and_0_without(installed):
    proc = _audit_cli("--pki-dir", str(installed))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DRIFT: certificate servers/soon.chain.pem#0 (soon.lab): expires in 3 days" in proc.stdout
    assert "note: certificate servers/later.chain.pem#0 (later.lab): 300 days left" in proc.stdout
    (installed / "servers/soon.chain.pem").unlink()
    proc = _audit_cli("--pki-dir", str(installed), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    days = {c["name"]: c["days"] for c in doc["certificates"]}
    assert doc["clean"] and round(days["servers/later.chain.pem#0"]) == 300
    assert _audit_cli("--pki-dir", str(installed), "--expiry-warn-days", "301").returncode == 1


def test_audit_names_a_missing_pki_directory_it_was_given(tmp_path):
    proc = _audit_cli("--pki-dir", str(tmp_path / "nope"))
    assert proc.returncode == 2 and f"{tmp_path / 'nope'}: no such directory" in proc.stderr
    report, items = audit.audit_certificates(tmp_path / "nope", 30, required=False)
    assert report.clean and items == [] and "certificate expiry not audited" in report.notes[0]


def test_the_metric_gives_days_per_installed_block_and_counts_unreadable_directories(installed, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.pem").write_bytes(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n")
    registry = CollectorRegistry()
    registry.register(certificates.CertificateExpiryCollector([installed, broken, tmp_path / "absent"]))
    families = {f.name: f for f in text_string_to_metric_families(generate_latest(registry).decode())}
    days = {s.labels["name"]: s for s in families["gateway_certificate_expiry_days"].samples}
    soon = days[f"{installed}/servers/soon.chain.pem#0"]
    assert round(soon.value) == 3 and soon.labels["kind"] == "certificate" and soon.labels["subject"] == "soon.lab"
    assert round(days[f"{installed}/servers/later.chain.pem#0"].value) == 300
    assert families["gateway_certificate_scan_errors"].samples[0].value == 1


def test_install_registers_once_per_registry(monkeypatch, installed):
    monkeypatch.setenv(certificates.ENV, str(installed))
    registry = CollectorRegistry(auto_describe=True)
    certificates.install(registry)
    certificates.install(registry)
    assert generate_latest(registry).decode().count("# TYPE gateway_certificate_expiry_days gauge") == 1
