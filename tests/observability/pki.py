"""The site PKI (`tests.reload.s3_store.site_pki`) plus server certificates for loopback.

The site's server certificates name `*.appliance.internal` and 198.18.0.10; tests connect to
127.0.0.1, and neither gRPC nor the OTLP exporters' environment can override the expected
name. So the same intermediate CA issues one extra certificate per test server with SANs
`localhost` and `127.0.0.1` (gateway.appliance.pki.issue_leaf, the appliance's own code).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from gateway.appliance import pki
from gateway.appliance.files import write_bytes
from gateway.appliance.manifest import CaSettings
from tests.reload.s3_store import site_pki


@dataclass(frozen=True)
class Loopback:
    """Paths of one PKI: CA bundle, a client identity, and a server identity for 127.0.0.1."""

    dir: Path
    ca: Path            # CA bundle (root + intermediate): what peers trust
    client_cert: Path   # the gateway's client certificate (chain) and key
    client_key: Path
    server_cert: Path   # chain for 127.0.0.1 / localhost
    server_key: Path
    root: Path


def loopback_pki(directory: Path) -> Loopback:
    site_pki(directory)
    inter = pki.Pki(directory)
    ca_cert = x509.load_pem_x509_certificate(inter.cert(pki.INTERMEDIATE).read_bytes())
    ca_key = serialization.load_pem_private_key(inter.key(pki.INTERMEDIATE).read_bytes(), None)
    leaf = pki.Leaf("server", "loopback", "localhost", ("localhost",), ("127.0.0.1",))
    key, cert = pki.issue_leaf(leaf, ca_cert, ca_key, CaSettings(), pki.now_utc())
    # servers/loopback.*: the layout tests.appliance.servers expects (redis(pki_dir, "loopback"))
    out = directory / "servers"
    chain = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
    write_bytes(out / "loopback.chain.pem", chain)
    write_bytes(out / "loopback.key", pki._key_pem(key), 0o600)
    return Loopback(
        dir=directory, ca=directory / "ca-bundle.pem", root=directory / "root-ca.crt",
        client_cert=directory / "clients" / "gateway.chain.pem", client_key=directory / "clients" / "gateway.key",
        server_cert=out / "loopback.chain.pem", server_key=out / "loopback.key",
    )
