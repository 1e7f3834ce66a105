"""The CA: chains verify with openssl and cryptography, usages are right, renew is idempotent."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from gateway.appliance import pki
from gateway.appliance.errors import PkiError
from tests.appliance.conftest import require_tool


@pytest.fixture
def ha_pki(example, tmp_path):
    loaded = example("ha")
    issued = pki.ensure(loaded.manifest, tmp_path / "pki")
    return loaded.manifest, pki.Pki(tmp_path / "pki"), issued


def _cert(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def _snapshot(d):
    return {p.relative_to(d): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_every_certificate_verifies_with_openssl_including_crls(ha_pki):
    openssl = require_tool("openssl", "openssl")
    m, p, _ = ha_pki
    leaves = sorted((p.dir / "servers").glob("*.crt")) + sorted((p.dir / "clients").glob("*.crt"))
    assert len(leaves) == 8 + 3 + 6  # 8 TLS services (ssh has none), 3 client identities, 6 TLS fronts
    for leaf in leaves:
        purpose = "sslserver" if leaf.parent.name == "servers" else "sslclient"
        proc = subprocess.run(
            [
                openssl,
                "verify",
                "-CAfile",
                p.cert("root-ca"),
                "-untrusted",
                p.cert("intermediate-ca"),
                "-crl_check_all",
                "-CRLfile",
                p.crl_bundle,
                "-purpose",
                purpose,
                leaf,
            ],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip().endswith(": OK")


def test_server_chain_verifies_with_cryptography_for_its_dns_name(ha_pki):
    m, p, _ = ha_pki
    store = Store([_cert(p.cert("root-ca"))])
    verifier = (
        PolicyBuilder()
        .store(store)
        .time(dt.datetime.now(dt.UTC))
        .build_server_verifier(x509.DNSName("postgresql.appliance.internal"))
    )
    chain = verifier.verify(_cert(p.leaf("server", "postgresql", "crt")), [_cert(p.cert("intermediate-ca"))])
    assert len(chain) == 3


def test_usages_sans_and_ca_constraints(ha_pki):
    m, p, _ = ha_pki
    root, inter = _cert(p.cert("root-ca")), _cert(p.cert("intermediate-ca"))
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    bc = inter.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = inter.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    server = _cert(p.leaf("server", "postgresql", "crt"))
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "postgresql.appliance.internal",
        "db1.appliance.internal",
    ]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["198.18.1.20"]
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    lb = _cert(p.leaf("server", "loadbalancer", "crt"))
    assert "gateway.example-site.internal" in lb.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)
    client = _cert(p.leaf("client", "gateway", "crt"))
    assert client.subject.rfc4514_string().startswith("CN=gateway")
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert not client.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert server.not_valid_after_utc - server.not_valid_before_utc <= dt.timedelta(
        days=m.ca.leaf_validity_days, minutes=5
    )


def test_keys_are_mode_0600_and_certs_readable(ha_pki):
    _, p, _ = ha_pki
    keys = list(p.dir.rglob("*.key"))
    assert len(keys) == 2 + 11 + 6  # CAs, services and clients of the manifest, TLS front identities
    assert all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
    assert all(c.stat().st_mode & 0o777 == 0o644 for c in p.dir.rglob("*.crt"))


def test_rerun_changes_nothing(ha_pki):
    m, p, issued = ha_pki
    assert "root CA" in issued and "client gateway" in issued
    before = _snapshot(p.dir)
    assert pki.ensure(m, p.dir) == []
    assert _snapshot(p.dir) == before


def test_renew_reissues_only_what_expires_within_the_threshold(ha_pki):
    m, p, _ = ha_pki
    ca_before = p.cert("intermediate-ca").read_bytes()
    # 340 days on, leaves (365 d) are inside the 30-day threshold; the 5-year intermediate is not.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=340)
    done = pki.ensure(m, p.dir, now=later)
    assert sorted(d for d in done if d.startswith(("server", "client"))) == sorted(
        f"{leaf.kind} {leaf.name}" for leaf in pki.wanted_leaves(m)
    )
    assert "intermediate CA" not in done and "root CA" not in done
    assert p.cert("intermediate-ca").read_bytes() == ca_before
    assert pki.ensure(m, p.dir, now=later) == []


def test_revoke_lists_the_serial_and_openssl_refuses_it(ha_pki):
    openssl = require_tool("openssl", "openssl")
    m, p, _ = ha_pki
    cert = _cert(p.leaf("client", "telemetry", "crt"))
    serial = pki.revoke(m, p.dir, "client", "telemetry", "keyCompromise")
    crl = x509.load_pem_x509_crl(p.crl("intermediate-ca").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None
    assert serial == f"{cert.serial_number:x}"
    proc = subprocess.run(
        [
            openssl,
            "verify",
            "-CAfile",
            p.cert("root-ca"),
            "-untrusted",
            p.cert("intermediate-ca"),
            "-crl_check_all",
            "-CRLfile",
            p.crl_bundle,
            p.leaf("client", "telemetry", "crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "certificate revoked" in proc.stdout + proc.stderr
    # The next renew replaces the revoked certificate and nothing else.
    assert pki.ensure(m, p.dir) == ["client telemetry"]
    assert _cert(p.leaf("client", "telemetry", "crt")).serial_number != cert.serial_number


def test_offline_root_is_only_needed_to_sign_the_intermediate(ha_pki):
    m, p, _ = ha_pki
    p.key("root-ca").unlink()
    assert pki.ensure(m, p.dir) == []
    # 70 days on, the intermediate's 90-day CRL is re-signed by the intermediate: no root needed.
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=70)
    assert pki.ensure(m, p.dir, now=later) == ["CRL intermediate-ca"]
    p.cert("intermediate-ca").unlink()
    with pytest.raises(PkiError, match="root-ca.key is needed to sign the intermediate CA"):
        pki.ensure(m, p.dir)


def test_revoking_an_unknown_name_says_which_exist(ha_pki):
    m, p, _ = ha_pki
    with pytest.raises(PkiError, match="names: gateway, gateway-gw1-front, .*, s3-front, telemetry"):
        pki.revoke(m, p.dir, "client", "nobody", "unspecified")
