"""Why Redis and SeaweedFS need the TLS front, and the operator's revocation procedure through it.

The bare servers accept a revoked certificate (they cannot read CRLs); the generated HAProxy front before
them passes the admitted client and logs it, and refuses a certificate revoked after start once HAProxy is
reloaded. Every refusal (25 cells, five fronts) is in test_refusal_matrix.py."""

from __future__ import annotations

import time

import pytest
import redis as redis_py

from gateway.appliance import haproxy, pki, tlsfront
from gateway.appliance.loader import load
from tests.appliance import refusal
from tests.appliance.conftest import EXAMPLES
from tests.appliance.servers import redis, seaweedfs
from tests.ha.haproxy import HAProxy

pytestmark = pytest.mark.slow
MANIFEST = EXAMPLES / "single-node" / "appliance.yaml"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    m = load(MANIFEST).manifest
    return m, refusal.material(m, tmp_path_factory.mktemp("mtls"))


@pytest.fixture(scope="module")
def rds(site):
    with redis(site[1].site, "redis") as port:
        yield port


@pytest.fixture(scope="module")
def s3(site):
    with seaweedfs(site[1].site, "s3") as port:
        deadline = time.monotonic() + 60  # the S3 gateway opens its port before the filer is ready
        while True:
            try:
                refusal.s3(port, site[1].root, site[1].good["gateway"])
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield port


def test_redis_70_alone_does_not_check_crls(rds, site):
    """Redis 7.0 has no tls-crl-file: a revoked certificate still connects to the real server. Clients never
    reach it: it listens on loopback behind the front."""
    material = site[1]
    assert refusal.redis(rds, material.root, material.good["gateway"]) == "PING True"
    assert refusal.redis(rds, material.root, material.revoked["gateway"]) == "PING True"


def test_s3_seaweedfs_alone_does_not_check_crls(s3, site):
    """SeaweedFS's S3 TLS listener has no CRL option."""
    material = site[1]
    assert refusal.s3(s3, material.root, material.revoked["gateway"]) == "buckets []"


@pytest.fixture(scope="module")
def front(site, rds, s3):
    """HAProxy with the generated fronts of node1 (listening on 127.0.0.1), proxying to the real servers."""
    fronts = tlsfront.fronts(refusal.fronted_manifest(MANIFEST, {"redis": rds, "s3": s3}), "node1")
    ports = {f.name: int(f.listen[0].rpartition(":")[2]) for f in fronts}
    assert sorted(ports) == ["redis", "s3"]
    server = HAProxy(lambda paths: haproxy.render(fronts, None, paths), site[1].site)
    try:
        server.start(list(ports.values()))
        server.ports = ports
        yield server
    finally:
        server.close()


def test_front_passes_redis_with_the_client_certificate_and_logs_it(front, site):
    material = site[1]
    mark = len(front.log().splitlines())
    assert refusal.redis(front.ports["redis"], material.root, material.good["gateway"]) == "PING True"
    line = refusal.logged(front, rf"127\.0\.0\.1:{front.ports['redis']} redis~ redis/redis ", mark)
    assert 'cert=1 verify=0 subject="CN=gateway,O=Example Site"' in line, line


def test_revoking_then_reloading_haproxy_refuses_a_certificate_that_worked(front, site):
    """The operator's procedure: `revoke`, then rerun the playbook: the haproxy role copies the new CRL
    bundle and reloads HAProxy (it reads CRLs at (re)load only)."""
    m, material = site
    p = pki.Pki(material.site)
    inter_cert, inter_key = pki._load_cert(p.cert(pki.INTERMEDIATE)), pki._load_key(p.key(pki.INTERMEDIATE))
    # A second certificate of an admitted identity (CN gateway), e.g. a host's re-issued key.
    key, cert = pki.issue_leaf(pki.Leaf("client", "late", "gateway", (), ()), inter_cert, inter_key, m.ca,
                               pki.now_utc())
    late = refusal._write(p.dir / "clients", "late", "gateway", key, cert, inter_cert)
    port = front.ports["redis"]
    assert refusal.redis(port, material.root, late) == "PING True"

    pki.revoke(m, p.dir, "client", "late", "keyCompromise")
    front.write_certs()
    assert refusal.redis(port, material.root, late) == "PING True", "HAProxy must not see a new CRL before a reload"
    mark = len(front.log().splitlines())
    front.reload()
    deadline = time.monotonic() + 60  # the new process takes over within a moment of the reload; CI is loaded
    while True:
        try:
            refusal.redis(port, material.root, late)
        except redis_py.exceptions.ConnectionError as exc:
            assert "Connection closed by server" in str(exc), exc
            break
        assert time.monotonic() < deadline, "still accepted 60 s after the reload"
        time.sleep(0.1)
    refusal.logged(front, 'redis/<NOSRV> .* PR cert=1 verify=23 subject="CN=gateway,O=Example Site"', mark)
    assert refusal.redis(port, material.root, material.good["gateway"]) == "PING True"
