"""Generated certificates on real servers: the right client certificate connects; none, a server-only
(wrong EKU) one, one from another CA and a revoked one are refused. PostgreSQL checks CRLs itself; Redis
and SeaweedFS cannot, so they are reached through the generated HAProxy TLS front, which refuses them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.appliance import haproxy, pki, tlsfront
from gateway.appliance.loader import parse
from tests.appliance.conftest import EXAMPLES
from tests.appliance.servers import free_port, postgresql, redis, seaweedfs
from tests.ha.haproxy import HAProxy

pytestmark = pytest.mark.slow
DOMAIN = "appliance.internal"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Site PKI of the single-node example, a second unrelated CA, a wrong-EKU and a revoked client."""
    from gateway.appliance.loader import load

    m = load(EXAMPLES / "single-node" / "appliance.yaml").manifest
    base = tmp_path_factory.mktemp("mtls")
    site, other = base / "site", base / "other"
    pki.ensure(m, site)
    pki.ensure(m, other)  # same names, different CA: must not be trusted
    p = pki.Pki(site)
    inter_cert = pki._load_cert(p.cert("intermediate-ca"))
    inter_key = pki._load_key(p.key("intermediate-ca"))
    key, cert = pki.issue_leaf(
        pki.Leaf("client", "gateway", "gateway", (), ()),
        inter_cert,
        inter_key,
        m.ca,
        pki.now_utc(),
        eku=[ExtendedKeyUsageOID.SERVER_AUTH],
    )
    _write(base / "wrong-eku", key, cert)
    # Revoke the load balancer's identity: same CA, valid dates, right EKU; only the CRL says no.
    pki.revoke(m, site, "client", "loadbalancer", "keyCompromise")
    return {
        "manifest": EXAMPLES / "single-node" / "appliance.yaml",
        "dir": site,
        "root": site / "root-ca.crt",
        "good": (site / "clients" / "gateway.crt", site / "clients" / "gateway.key"),
        "revoked": (site / "clients" / "loadbalancer.crt", site / "clients" / "loadbalancer.key"),
        "wrong_eku": (base / "wrong-eku.crt", base / "wrong-eku.key"),
        "other_ca": (other / "clients" / "gateway.chain.pem", other / "clients" / "gateway.key"),
    }


def _write(stem: Path, key, cert) -> None:
    stem.with_suffix(".key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    stem.with_suffix(".key").chmod(0o600)
    stem.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# --- PostgreSQL 15: hostssl + cert auth (CN = role), CRLs of both CAs -------------------------------------


def _pg(port, certs, which, user="gateway"):
    import psycopg

    kw = {}
    if which is not None:
        kw = {"sslcert": str(certs[which][0]), "sslkey": str(certs[which][1])}
    else:
        kw = {"sslcert": "/nonexistent.crt", "sslkey": "/nonexistent.key"}
    with psycopg.connect(
        host=f"postgresql.{DOMAIN}",
        hostaddr="127.0.0.1",
        port=port,
        user=user,
        dbname="postgres",
        sslmode="verify-full",
        sslrootcert=str(certs["root"]),
        connect_timeout=5,
        **kw,
    ) as conn:
        return conn.execute(
            "select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()"
        ).fetchone()


@pytest.fixture(scope="module")
def pg(certs):
    with postgresql(certs["dir"], "postgresql", ["gateway", "loadbalancer"]) as port:
        yield port


def test_postgresql_accepts_the_client_certificate_over_verified_tls(pg, certs):
    assert _pg(pg, certs, "good") == ("gateway", True)


@pytest.mark.parametrize(
    "which, user",
    [(None, "gateway"), ("wrong_eku", "gateway"), ("other_ca", "gateway"), ("revoked", "loadbalancer")],
)
def test_postgresql_refuses(pg, certs, which, user):
    import psycopg

    with pytest.raises(psycopg.OperationalError) as exc:
        _pg(pg, certs, which, user)
    expected = {
        None: "certificate",
        "wrong_eku": "unsupported certificate",
        "other_ca": "unknown ca",
        "revoked": "revoked",
    }[which]
    assert expected in str(exc.value).lower(), str(exc.value)


# --- Redis 7: port 0, tls-port, tls-auth-clients yes ----------------------------------------------------


def _redis(port, certs, which):
    import redis as redis_py
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kw = {"ssl_certfile": str(certs[which][0]), "ssl_keyfile": str(certs[which][1])} if which else {}
    client = redis_py.Redis(
        host="127.0.0.1",
        port=port,
        ssl=True,
        ssl_ca_certs=str(certs["root"]),
        ssl_check_hostname=False,
        socket_timeout=5,
        socket_connect_timeout=5,
        retry=Retry(NoBackoff(), 0),
        **kw,
    )
    try:
        return client.ping()
    finally:
        client.close()


@pytest.fixture(scope="module")
def rds(certs):
    with redis(certs["dir"], "redis") as port:
        yield port


def test_redis_accepts_the_client_certificate(rds, certs):
    assert _redis(rds, certs, "good") is True


@pytest.mark.parametrize("which", [None, "wrong_eku", "other_ca"])
def test_redis_refuses(rds, certs, which):
    import redis as redis_py

    with pytest.raises(redis_py.exceptions.ConnectionError):
        _redis(rds, certs, which)


def test_redis_70_alone_does_not_check_crls(rds, certs):
    """Why Redis needs the TLS front: Redis 7.0 has no tls-crl-file, so a revoked certificate still connects
    to the real server. Clients never reach it: it listens on loopback behind the front (below)."""
    assert _redis(rds, certs, "revoked") is True


# --- SeaweedFS S3: -s3.tlsVerifyClientCert=true, via the minio SDK ------------------------------------


def _s3(port, certs, which):
    import urllib3
    from minio import Minio

    kw = {"cert_file": str(certs[which][0]), "key_file": str(certs[which][1])} if which else {}
    http = urllib3.PoolManager(
        cert_reqs="CERT_REQUIRED",
        ca_certs=str(certs["root"]),
        server_hostname=f"s3.{DOMAIN}",
        assert_hostname=f"s3.{DOMAIN}",
        timeout=urllib3.Timeout(5),
        retries=False,
        **kw,
    )
    client = Minio(
        f"127.0.0.1:{port}", access_key="any", secret_key="anything", secure=True, http_client=http
    )
    return [b.name for b in client.list_buckets()]


@pytest.fixture(scope="module")
def s3(certs):
    with seaweedfs(certs["dir"], "s3") as port:
        deadline = time.monotonic() + 30  # the S3 gateway opens its port before the filer is ready
        while True:
            try:
                _s3(port, certs, "good")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield port


def test_s3_accepts_the_client_certificate(s3, certs):
    assert isinstance(_s3(s3, certs, "good"), list)


@pytest.mark.parametrize("which", [None, "wrong_eku", "other_ca"])
def test_s3_refuses(s3, certs, which):
    import urllib3

    with pytest.raises((urllib3.exceptions.SSLError, urllib3.exceptions.ProtocolError, OSError)):
        _s3(s3, certs, which)


def test_s3_seaweedfs_alone_does_not_check_crls(s3, certs):
    """Why SeaweedFS needs the TLS front: its S3 TLS listener has no CRL option."""
    assert isinstance(_s3(s3, certs, "revoked"), list)


# --- The HAProxy TLS front, generated from the manifest, before the real Redis and SeaweedFS -------------

# What the front logs for each refused certificate (the operator's evidence): whether one was sent, and
# OpenSSL's verify code with the subject.
REFUSED = {
    None: "cert=0 verify=0 subject=\"-\"",
    "wrong_eku": "cert=1 verify=26 ",  # X509_V_ERR_INVALID_PURPOSE
    # OpenSSL names the first check that fails; with a foreign CA of the same name it is the CRL lookup
    # (3, unable to get certificate CRL) or the signature.
    "other_ca": "cert=1 verify=",
    "revoked": "cert=1 verify=23 subject=\"CN=loadbalancer,O=Example Site\"",  # X509_V_ERR_CERT_REVOKED
}


def _front_manifest(certs, backends: dict[str, int]):
    """The single-node manifest with redis and s3 on free ports, their real servers at the test's ports.

    Only the services under test keep a front (the others would need real servers of their own).
    """
    data = yaml.safe_load(Path(certs["manifest"]).read_text())
    services = []
    for s in data["services"]:
        if s["name"] in backends:
            s = {**s, "port": free_port(), "backend_port": backends[s["name"]]}
        elif s["tls"]["mode"] == "mtls" and s["kind"] != "postgresql":
            continue
        services.append(s)
    data["services"] = services
    return parse(yaml.safe_dump(data, sort_keys=False), "appliance.yaml")


@pytest.fixture(scope="module")
def front(certs, rds, s3):
    """HAProxy with the generated fronts of node1 (listening on 127.0.0.1), proxying to the real servers."""
    m = _front_manifest(certs, {"redis": rds, "s3": s3})
    fronts = tlsfront.fronts(m, "node1")
    ports = {f.name: int(f.listen[0].rpartition(":")[2]) for f in fronts}
    assert sorted(ports) == ["redis", "s3"]
    server = HAProxy(lambda paths: haproxy.render(fronts, None, paths), certs["dir"])
    try:
        server.start(list(ports.values()))
        server.ports = ports
        yield server
    finally:
        server.close()


def _log_lines(front) -> list[str]:
    return front.log().splitlines()


def _logged(front, text: str, after: int, seconds: float = 5) -> str:
    """The log line after line `after` that says `text`; HAProxy writes it when the session ends."""
    deadline = time.monotonic() + seconds
    while True:
        lines = _log_lines(front)
        hit = [ln for ln in lines[after:] if text in ln]
        if hit or time.monotonic() > deadline:
            assert hit, f"{text!r} not in the front's log:\n" + "\n".join(lines[-5:])
            return hit[-1]
        time.sleep(0.05)


def test_front_passes_redis_with_the_client_certificate(front, certs):
    mark = len(_log_lines(front))
    assert _redis(front.ports["redis"], certs, "good") is True
    line = _logged(front, f"127.0.0.1:{front.ports['redis']} redis~ redis/redis ", mark)
    assert 'cert=1 verify=0 subject="CN=gateway,O=Example Site"' in line, line


@pytest.mark.parametrize("which", [None, "wrong_eku", "other_ca", "revoked"])
def test_front_refuses_for_redis(front, certs, which):
    import redis as redis_py

    mark = len(_log_lines(front))
    with pytest.raises(redis_py.exceptions.ConnectionError):
        _redis(front.ports["redis"], certs, which)
    line = _logged(front, f"127.0.0.1:{front.ports['redis']} redis~ redis/<NOSRV> ", mark)
    assert REFUSED[which] in line and " PR " in line and "verify=0 subject=\"CN" not in line, line


def test_front_passes_s3_with_the_client_certificate(front, certs):
    assert isinstance(_s3(front.ports["s3"], certs, "good"), list)


@pytest.mark.parametrize("which", [None, "wrong_eku", "other_ca", "revoked"])
def test_front_refuses_for_s3(front, certs, which):
    import urllib3

    mark = len(_log_lines(front))
    with pytest.raises((urllib3.exceptions.SSLError, urllib3.exceptions.ProtocolError, OSError)):
        _s3(front.ports["s3"], certs, which)
    line = _logged(front, f"127.0.0.1:{front.ports['s3']} s3~ s3/<NOSRV> ", mark)
    assert REFUSED[which] in line, line


def test_revoking_then_reloading_haproxy_refuses_a_certificate_that_worked(front, certs):
    """The operator's procedure: `revoke`, then rerun the playbook: the haproxy role copies the new CRL
    bundle and reloads HAProxy (it reads CRLs at (re)load only)."""
    from gateway.appliance.loader import load

    m = load(certs["manifest"]).manifest
    p = pki.Pki(certs["dir"])
    inter_cert, inter_key = pki._load_cert(p.cert("intermediate-ca")), pki._load_key(p.key("intermediate-ca"))
    # A second certificate of an admitted identity (CN gateway), e.g. a host's re-issued key.
    key, cert = pki.issue_leaf(pki.Leaf("client", "late", "gateway", (), ()), inter_cert, inter_key, m.ca,
                               pki.now_utc())
    _write(p.dir / "clients" / "late", key, cert)
    certs = {**certs, "late": (p.dir / "clients" / "late.crt", p.dir / "clients" / "late.key")}
    assert _redis(front.ports["redis"], certs, "late") is True

    pki.revoke(m, p.dir, "client", "late", "keyCompromise")
    front.write_certs()
    assert _redis(front.ports["redis"], certs, "late") is True, "HAProxy must not see a new CRL before a reload"
    mark = len(_log_lines(front))
    front.reload()
    deadline = time.monotonic() + 10  # the new process takes over within a moment of the reload
    while True:
        try:
            _redis(front.ports["redis"], certs, "late")
        except Exception:
            break
        assert time.monotonic() < deadline, "still accepted 10 s after the reload"
        time.sleep(0.1)
    _logged(front, 'cert=1 verify=23 subject="CN=gateway,O=Example Site"', mark)
    assert _redis(front.ports["redis"], certs, "good") is True
