"""The refusal matrix: fronts {gateway, Redis, S3, OTLP, PostgreSQL} x {no certificate, wrong EKU, revoked,
foreign CA, identity not allowed}, 25 refusals against real servers, each next to an admitted client that
succeeds on the same server in the same test.

The gateway, Redis, SeaweedFS (S3) and the project's OTLP receiver stand behind HAProxy running the fronts
`gateway appliance generate` writes for the single-node manifest (admitted identities included);
PostgreSQL checks certificates itself, with the pg_hba.conf and pg_ident.conf the postgresql role renders
from the same manifest. A front's refusal is proven by its log line (verify code, subject, no server,
`PR`: refused by a tcp-request rule) and by what the client saw: the connection closed before any answer.
The gateway's front speaks HTTP (h2 and HTTP/1.1): it refuses by a `tcp-request session` rule before any
HTTP is read, so its proof is the connection's error-log line (`refused`, `fc_err=0`: no transport error,
a rule) with the same verify code and subject, and its frontend's `dses` counter (sessions denied by
`tcp-request session` rules) rising by one.
"""

from __future__ import annotations

import re

import jinja2
import pytest
import yaml

from gateway.appliance import ansible_vars, haproxy, tlsfront
from gateway.appliance.loader import load
from tests.appliance import refusal
from tests.appliance.conftest import EXAMPLES, REPO
from tests.appliance.servers import postgresql, redis, seaweedfs
from tests.ha.haproxy import HAProxy
from tests.helpers import knn_config, write_config
from tests.integration.gateway_process import GatewayProcess
from tests.observability.otlp_receiver import OtlpReceiver
from tests.observability.pki import Loopback

pytestmark = pytest.mark.slow
MANIFEST = EXAMPLES / "single-node" / "appliance.yaml"
ROLE = REPO / "ansible" / "roles" / "postgresql"
HAPROXY_FRONTS = ("gateway", "redis", "s3", "otlp")

# What the front logs per refused cell: whether a certificate was sent and OpenSSL's verify code, with the
# subject: 26 invalid purpose, 23 revoked; another CA's chain ends in 3 (no CRL for that CA), the last
# error OpenSSL records once the handshake lets every error through (crt-ignore-err all).
FRONT_LOG = {
    "no certificate": 'cert=0 verify=0 subject="-"',
    "wrong EKU": 'cert=1 verify=26 subject="CN={admitted},O=Example Site"',
    "revoked": 'cert=1 verify=23 subject="CN={admitted},O=Example Site"',
    "foreign CA": 'cert=1 verify=3 subject="CN={admitted},O=Example Site"',
    # verified, so only the identity ACL refused it
    "identity not allowed": 'cert=1 verify=0 subject="CN={other},O=Example Site"',
}
# Fronts in HTTP mode (tlsfront.Front.http): refused at the session layer, see the module's docstring.
SESSION_REFUSAL = "refused fc_err=0 "
HTTP_FRONTS = ("gateway",)
# What PostgreSQL answers per refused cell (its TLS alert or its own error text).
POSTGRESQL = {
    "no certificate": "connection requires a valid client certificate",
    "wrong EKU": "alert unsupported certificate",
    "revoked": "alert certificate revoked",
    "foreign CA": "alert unknown ca",
    "identity not allowed": 'no pg_hba.conf entry for host "127.0.0.1", user "{other}", database "litellm", '
                            "SSL encryption",
}
# What the admitted client gets, per front.
ANSWER = {"gateway": "HTTP/1.1 200 OK", "redis": "PING True", "s3": "buckets []", "otlp": "HTTP/1.0 200 OK",
          "postgresql": "logged in as {admitted}"}
# What the refused clients see at a front: the connection closes before any answer.
CLOSED = {"gateway": r"closed without an answer", "otlp": r"closed without an answer",
          "redis": r"Connection closed by server", "s3": r"Connection aborted|RemoteDisconnected"}


def expected_refusal(m, front: str, case: str) -> str:
    """The matrix cell: what the server says (its error text, or the front's log line)."""
    names = {"admitted": refusal.admitted(m, front), "other": refusal.not_admitted(m, front)}
    if front == "postgresql":
        return POSTGRESQL[case].format(**names)
    if front in HTTP_FRONTS:
        return SESSION_REFUSAL + FRONT_LOG[case].format(**names) + " dses+1"
    return FRONT_LOG[case].format(**names) + " <NOSRV> PR"


# --- servers ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("matrix")
    m = load(MANIFEST).manifest
    return m, refusal.material(m, base), base


def _role_file(name: str, service: dict) -> str:
    """The postgresql role's template, rendered as Ansible would for the manifest's service."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"), keep_trailing_newline=True)
    env.filters["comment"] = lambda text: f"# {text}\n"
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    return env.get_template(name).render(
        ansible_managed="Ansible managed", appliance={"site": "single-node"}, __postgresql_name="postgresql",
        __postgresql_service=service, postgresql_databases=defaults["postgresql_databases"])


@pytest.fixture(scope="module")
def pg(site):
    m, material, _ = site
    service = ansible_vars.variables(m, "0" * 64)["appliance"]["services"]["postgresql"]
    roles = [c.name for c in m.clients]  # every identity has a role: only pg_hba decides who logs in
    with postgresql(material.site, "postgresql", roles, hba=_role_file("pg_hba.conf.j2", service),
                    ident=_role_file("pg_ident.conf.j2", service), databases={"litellm": "gateway"}) as port:
        yield port


@pytest.fixture(scope="module")
def backends(site, demo_artifact):
    """The real servers behind the fronts, on loopback: name -> port."""
    m, material, base = site
    with redis(material.site, "redis") as rds, seaweedfs(material.site, "s3") as weed, \
            OtlpReceiver(_otlp_pki(material)) as rx:
        gw = GatewayProcess(write_config(base, knn_config(demo_artifact)), base / "gateway.log", extra_args=[
            "--ssl-certfile", str(material.site / "servers" / "gateway.chain.pem"),
            "--ssl-keyfile", str(material.site / "servers" / "gateway.key")])
        try:
            gw.wait_ready(probe=lambda: _tls_ready(gw.port))
            yield {"gateway": gw.port, "redis": rds, "s3": weed, "otelcol-http": rx.http_port}
        finally:
            gw.stop()


def _otlp_pki(material: refusal.Material) -> Loopback:
    """The receiver with the collector's own server certificate (the front verifies otelcol-http's name)."""
    d = material.site
    return Loopback(dir=d, ca=d / "ca-bundle.pem", root=d / "root-ca.crt",
                    client_cert=d / "clients" / "gateway.chain.pem", client_key=d / "clients" / "gateway.key",
                    server_cert=d / "servers" / "otelcol-http.chain.pem", server_key=d / "servers" / "otelcol-http.key")


def _tls_ready(port: int) -> bool:
    import socket
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(b"GET /health/liveliness HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return tls.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@pytest.fixture(scope="module")
def fronts(site, backends):
    m, material, _ = site
    fronted = refusal.fronted_manifest(MANIFEST, backends)
    generated = tlsfront.fronts(fronted, "node1")
    ports = {f.name: int(f.listen[0].rpartition(":")[2]) for f in generated}
    server = HAProxy(lambda paths: haproxy.render(generated, None, paths), material.site)
    try:
        server.start(list(ports.values()))
        yield server, {front: ports[service] for front, service in refusal.FRONTS.items() if service in ports}
    finally:
        server.close()


# --- the matrix ------------------------------------------------------------------------------------------


def _call(front: str, port: int, material: refusal.Material, cert, user: str) -> str:
    if front == "postgresql":
        return refusal.postgresql(port, material.root, cert, user)
    return getattr(refusal, front)(port, material.root, cert)


@pytest.mark.parametrize("case", refusal.CASES)
@pytest.mark.parametrize("front", list(refusal.FRONTS))
def test_refusal_matrix(front, case, site, fronts, pg, matrix_report):
    m, material, _ = site
    server, ports = fronts
    port = pg if front == "postgresql" else ports[front]
    admitted, other = refusal.admitted(m, front), refusal.not_admitted(m, front)
    user = other if case == "identity not allowed" else admitted  # PostgreSQL: the role is the CN

    # The admitted identity's valid certificate works on this very server.
    answer = ANSWER[front].format(admitted=admitted)
    assert _call(front, port, material, material.presented(m, front, None), admitted) == answer

    mark = len(server.log().splitlines())
    denied = server.frontend_counter(refusal.FRONTS[front], "dses") if front in HTTP_FRONTS else 0
    cert = material.presented(m, front, case)
    if front == "postgresql":
        import psycopg

        with pytest.raises(psycopg.OperationalError) as exc:
            _call(front, port, material, cert, user)
        assert expected_refusal(m, front, case) in str(exc.value), str(exc.value)
    elif front in HTTP_FRONTS:
        _refused_at_front(front, port, material, cert, user)
        name = refusal.FRONTS[front]
        line = refusal.logged(server, rf"127\.0\.0\.1:{port} {name}~ {SESSION_REFUSAL}", mark)
        assert FRONT_LOG[case].format(admitted=admitted, other=other) in line, line
        assert server.frontend_counter(name, "dses") == denied + 1, server.command("show stat")
    else:
        _refused_at_front(front, port, material, cert, user)
        line = refusal.logged(server, rf"127\.0\.0\.1:{port} {refusal.FRONTS[front]}~ {refusal.FRONTS[front]}/<NOSRV> ",
                       mark)
        assert FRONT_LOG[case].format(admitted=admitted, other=other) in line and " PR " in line, line
    matrix_report[(front, case)] = expected_refusal(m, front, case)


def _refused_at_front(front: str, port: int, material, cert, user: str) -> None:
    """The client's view: the TLS session opens, then closes before the server answered anything."""
    try:
        answer = _call(front, port, material, cert, user)
    except Exception as exc:  # noqa: BLE001 - narrowed just below by the library's own message
        answer = f"{type(exc).__name__}: {exc}"
    assert re.search(CLOSED[front], answer), f"{front}: expected a closed connection, got {answer!r}"


def test_the_matrix_is_recorded_in_docs_network_md():
    """docs/network.md shows the same 25 expected refusals the matrix test asserts."""
    table = matrix_markdown(load(MANIFEST).manifest)
    assert table in (REPO / "docs" / "network.md").read_text(), "docs/network.md's matrix is stale; paste:\n" + table


def matrix_markdown(m) -> str:
    rows = ["| Front (admits) | " + " | ".join(refusal.CASES) + " |", "|---" * (len(refusal.CASES) + 1) + "|"]
    for front in refusal.FRONTS:
        cells = [f"`{expected_refusal(m, front, case)}`" for case in refusal.CASES]
        rows.append(f"| {front} ({refusal.admitted(m, front)}) | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
