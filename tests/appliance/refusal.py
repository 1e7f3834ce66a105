"""The refusal matrix's material: per identity the certificates that must be refused, and one real client
per front that either returns the server's answer or raises what the client library raises.

Every refused certificate differs from an admitted one in exactly one property (no certificate, the
serverAuth-only EKU, a CRL entry, another CA, another identity of the same site), so a refusal can only
come from the check that cell names.
"""

from __future__ import annotations

import re
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.appliance import admission, pki
from gateway.appliance.files import write_bytes
from gateway.appliance.loader import parse
from gateway.appliance.manifest import Manifest
from tests.appliance.servers import free_port

DOMAIN = "appliance.internal"
CASES = ("no certificate", "wrong EKU", "revoked", "foreign CA", "identity not allowed")
# front -> the manifest service it guards (OTLP: the collector's HTTP port)
FRONTS = {"gateway": "gateway", "redis": "redis", "s3": "s3", "otlp": "otelcol-http", "postgresql": "postgresql"}


@dataclass(frozen=True)
class Cert:
    chain: Path
    key: Path
    cn: str


@dataclass(frozen=True)
class Material:
    """The site PKI (root CA to trust) and, per identity, the admitted and the refused certificates."""

    site: Path
    root: Path
    good: dict[str, Cert]
    wrong_eku: dict[str, Cert]
    revoked: dict[str, Cert]
    foreign: dict[str, Cert]

    def presented(self, m: Manifest, front: str, case: str | None) -> Cert | None:
        """What the client presents in a cell; case None: the admitted identity's valid certificate."""
        identity = admitted(m, front)
        return {
            None: self.good[identity],
            "no certificate": None,
            "wrong EKU": self.wrong_eku[identity],
            "revoked": self.revoked[identity],
            "foreign CA": self.foreign[identity],
            "identity not allowed": self.good[not_admitted(m, front)],
        }[case]


def admitted(m: Manifest, front: str) -> str:
    """An identity the manifest admits to the front's service (the first; single-node's S3 also admits trainer)."""
    return admission.identities(m, m.service(FRONTS[front]))[0]


def not_admitted(m: Manifest, front: str) -> str:
    """Another identity of the same site (valid, right EKU, not revoked) that the service does not admit."""
    allowed = admission.identities(m, m.service(FRONTS[front]))
    return next(c.name for c in m.clients if c.name not in allowed)


def _write(directory: Path, name: str, cn: str, key, cert, issuer) -> Cert:
    pem = serialization.Encoding.PEM
    chain = directory / f"{name}.chain.pem"
    write_bytes(chain, cert.public_bytes(pem) + issuer.public_bytes(pem))
    write_bytes(directory / f"{name}.crt", cert.public_bytes(pem))
    write_bytes(directory / f"{name}.key", pki._key_pem(key), 0o600)
    return Cert(chain, directory / f"{name}.key", cn)


def material(m: Manifest, base: Path) -> Material:
    """Generates the site PKI and a second one with the same names, then the refused variants of every client."""
    site, other = base / "site", base / "other"
    pki.ensure(m, site)
    pki.ensure(m, other)  # same names and layout, another CA: must not be trusted
    p = pki.Pki(site)
    inter_cert, inter_key = pki._load_cert(p.cert(pki.INTERMEDIATE)), pki._load_key(p.key(pki.INTERMEDIATE))
    names = [c.name for c in m.clients]
    good = {n: Cert(site / "clients" / f"{n}.chain.pem", site / "clients" / f"{n}.key", n) for n in names}
    foreign = {n: Cert(other / "clients" / f"{n}.chain.pem", other / "clients" / f"{n}.key", n) for n in names}
    wrong_eku, revoked = {}, {}
    for n in names:
        leaf = pki.Leaf("client", n, n, (), ())
        key, cert = pki.issue_leaf(leaf, inter_cert, inter_key, m.ca, pki.now_utc(),
                                   eku=[ExtendedKeyUsageOID.SERVER_AUTH])
        wrong_eku[n] = _write(base / "wrong-eku", n, n, key, cert, inter_cert)
        # A second certificate of the same identity, then revoked: only the CRL tells it from the good one.
        # revoke() finds it as clients/<name>.crt; HAProxy's copy of the PKI takes only *.chain.pem there.
        key, cert = pki.issue_leaf(leaf, inter_cert, inter_key, m.ca, pki.now_utc())
        revoked[n] = _write(base / "revoked", n, n, key, cert, inter_cert)
        write_bytes(site / "clients" / f"{n}-revoked.crt", revoked[n].chain.read_bytes())
        pki.revoke(m, site, "client", f"{n}-revoked", "keyCompromise")
    return Material(site, site / "root-ca.crt", good, wrong_eku, revoked, foreign)


def fronted_manifest(path: Path, backends: dict[str, int]) -> Manifest:
    """The manifest with the services in `backends` on free loopback ports before the test's real servers
    (service -> its port); the other fronted services are left out (they would need servers of their own)."""
    data = yaml.safe_load(path.read_text())
    services = []
    for s in data["services"]:
        if s["name"] in backends:
            s = {**s, "port": free_port(), "backend_port": backends[s["name"]]}
        elif _fronted(s):
            continue
        services.append(s)
    data["services"] = services
    return parse(yaml.safe_dump(data, sort_keys=False), path.name)


def _fronted(service: dict) -> bool:
    from gateway.appliance.revocation import needs_front

    return needs_front(service["kind"], service.get("software"), service["tls"]["mode"])


def logged(server, pattern: str, after: int, seconds: float = 30) -> str:
    """The front's log line after line `after` matching `pattern`; HAProxy writes it when the session ends."""
    deadline = time.monotonic() + seconds
    while True:
        lines = server.log().splitlines()
        hits = [ln for ln in lines[after:] if re.search(pattern, ln)]
        if hits or time.monotonic() > deadline:
            assert hits, f"{pattern!r} not in the front's log:\n" + "\n".join(lines[-5:])
            return hits[-1]
        time.sleep(0.05)


# --- one real client per front --------------------------------------------------------------------------


def _context(root: Path, cert: Cert | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(root))
    if cert is not None:
        context.load_cert_chain(cert.chain, cert.key)
    return context


def https(port: int, server_name: str, root: Path, cert: Cert | None, request: bytes) -> bytes:
    """One HTTP/1.1 exchange (Connection: close) over verified TLS; returns all the server sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            _context(root, cert).wrap_socket(raw, server_hostname=server_name) as tls:
        tls.sendall(request)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def gateway(port: int, root: Path, cert: Cert | None) -> str:
    name = f"gateway.{DOMAIN}"
    answer = https(port, name, root, cert,
                   f"GET /health/liveliness HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
    return answer.split(b"\r\n", 1)[0].decode() or "closed without an answer"


def otlp(port: int, root: Path, cert: Cert | None) -> str:
    """An empty OTLP/HTTP traces export (a valid ExportTraceServiceRequest has no required field)."""
    name = f"otelcol-http.{DOMAIN}"
    head = (f"POST /v1/traces HTTP/1.1\r\nHost: {name}\r\nContent-Type: application/x-protobuf\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n")
    answer = https(port, name, root, cert, head.encode())
    return answer.split(b"\r\n", 1)[0].decode() or "closed without an answer"


def redis(port: int, root: Path, cert: Cert | None) -> str:
    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kw = {"ssl_certfile": str(cert.chain), "ssl_keyfile": str(cert.key)} if cert else {}
    client = redis_py.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(root),
                            ssl_check_hostname=False, socket_timeout=5, socket_connect_timeout=5,
                            retry=Retry(NoBackoff(), 0), **kw)
    try:
        return f"PING {client.ping()}"
    finally:
        client.close()


def s3(port: int, root: Path, cert: Cert | None) -> str:
    import urllib3
    from minio import Minio

    kw = {"cert_file": str(cert.chain), "key_file": str(cert.key)} if cert else {}
    http = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=str(root), server_hostname=f"s3.{DOMAIN}",
                               assert_hostname=f"s3.{DOMAIN}", timeout=urllib3.Timeout(5), retries=False, **kw)
    client = Minio(f"127.0.0.1:{port}", access_key="any", secret_key="anything", secure=True, http_client=http)
    return f"buckets {[b.name for b in client.list_buckets()]}"


def postgresql(port: int, root: Path, cert: Cert | None, user: str) -> str:
    """The gateway's database (the postgresql role's default `litellm`, owned by `gateway`)."""
    import psycopg

    chain, key = (cert.chain, cert.key) if cert else ("/nonexistent.crt", "/nonexistent.key")
    with psycopg.connect(host=f"postgresql.{DOMAIN}", hostaddr="127.0.0.1", port=port, user=user,
                         dbname="litellm", sslmode="verify-full", sslrootcert=str(root), sslcert=str(chain),
                         sslkey=str(key), connect_timeout=5) as conn:
        (who,) = conn.execute("select current_user").fetchone()
    return f"logged in as {who}"
