"""`appliance-lb-health` (the loadbalancer role's active readiness checker) without nginx: its
configuration errors, the rise/fall rule, the upstream list it writes, and real mTLS probes
against a TLS server that requires a client certificate, as a gateway's TLS front does."""

from __future__ import annotations

import http.server
import ssl
import threading
from pathlib import Path

import pytest

from tests.ha import lb_health

health = lb_health.load()


def config(tmp_path: Path, **over) -> Path:
    values = {"gateways": [{"name": "gateway-gw1", "address": "gw1.site.internal:4000"},
                           {"name": "gateway-gw2", "address": "gw2.site.internal:4000"}],
              "upstreams_file": str(tmp_path / "upstreams.conf"), "nginx_pid_file": str(tmp_path / "nginx.pid"),
              "server_options": "max_fails=2 fail_timeout=10s"}
    values.update(over)
    return lb_health.write_config(tmp_path / "lb-health.json", **values)


@pytest.mark.parametrize(("over", "message"), [
    ({"rise": 0}, "'rise' has value 0; expected a positive int"),
    ({"interval_s": "2s"}, "'interval_s' has value '2s'; expected a positive float"),
    ({"gateways": [{"name": "gw1", "address": "gw1.site.internal"}]}, "gateways[0].'address' has value "
     "'gw1.site.internal'; expected host:port"),
    ({"gateways": []}, "'gateways' is empty"),
    ({"tls": {"ca": "/ca.pem", "cert": "/c.pem", "key": "/k.pem"}}, "tls.'server_name' is missing"),
    ({"interval": 2}, "unknown keys ['interval']"),
])
def test_a_bad_config_names_the_file_and_the_key(tmp_path, over, message):
    path = config(tmp_path, **over)
    with pytest.raises(health.ConfigError) as err:
        health.load_config(path)
    assert str(err.value) == f"{path}: {message}"
    done = lb_health.run(path, "--render")
    assert done.returncode == 2 and f"{path}: {message}" in done.stderr
    assert not (tmp_path / "upstreams.conf").exists()


def test_a_gateway_goes_out_after_fall_failures_and_back_after_rise_passes():
    tracker = health.Tracker(rise=2, fall=3)
    assert [tracker.observe("gw1", False) for _ in range(3)] == [False, False, True]
    assert tracker.up["gw1"] is False
    assert [tracker.observe("gw1", ok) for ok in (True, False, True, True)] == [False, False, False, True]
    assert tracker.up["gw1"] is True


def test_the_list_marks_down_gateways_and_fails_open_when_all_are_down(tmp_path):
    cfg = health.load_config(config(tmp_path))
    one_down = health.render(cfg, {"gateway-gw2"})
    assert one_down.splitlines()[1:] == [
        "server gw1.site.internal:4000 max_fails=2 fail_timeout=10s;  # gateway-gw1",
        "server gw2.site.internal:4000 max_fails=2 fail_timeout=10s down;  # gateway-gw2"]
    assert " down;" not in health.render(cfg, {"gateway-gw1", "gateway-gw2"})
    health.write_if_changed(cfg.upstreams_file, one_down)
    assert health.marked_down(cfg.upstreams_file) == {"gateway-gw2"}  # a restart keeps it out
    assert health.write_if_changed(cfg.upstreams_file, one_down) is False


def test_render_writes_every_gateway_up_for_nginx_to_start_with(tmp_path):
    path = config(tmp_path)
    assert lb_health.run(path, "--render").returncode == 0
    assert (tmp_path / "upstreams.conf").read_text().count(" down;") == 0
    assert (tmp_path / "upstreams.conf").stat().st_mode & 0o777 == 0o644


class _Readiness(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(self.status if self.path == "/health/readiness/dependencies" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_gateway(pki):
    """A TLS server with the loopback certificate that requires a client certificate from the site CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Readiness)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def tls_config(tmp_path, pki, port: int, server_name: str = "localhost", identity: str = "loadbalancer"):
    return health.load_config(config(
        tmp_path, gateways=[{"name": "gateway-gw1", "address": f"127.0.0.1:{port}"}], timeout_s=3,
        tls={"ca": str(pki.ca), "cert": str(pki.dir / "clients" / f"{identity}.chain.pem"),
             "key": str(pki.dir / "clients" / f"{identity}.key"), "crl": str(pki.dir / "crl-bundle.pem"),
             "server_name": server_name}))


def test_the_probe_presents_the_loadbalancer_identity_and_checks_crls(tmp_path, pki, tls_gateway):
    cfg = tls_config(tmp_path, pki, tls_gateway.server_address[1])
    context = health.tls_context(cfg.tls)
    assert health.probe(cfg.gateways[0], cfg, context) == (True, "HTTP 200")
    _Readiness.status = 503
    try:
        assert health.probe(cfg.gateways[0], cfg, context) == (False, "HTTP 503")
    finally:
        _Readiness.status = 200


def test_the_probe_refuses_a_gateway_whose_certificate_does_not_carry_the_name(tmp_path, pki, tls_gateway):
    cfg = tls_config(tmp_path, pki, tls_gateway.server_address[1], server_name="gateway.appliance.internal")
    ready, why = health.probe(cfg.gateways[0], cfg, health.tls_context(cfg.tls))
    assert ready is False and why.startswith("TLS: ") and "CERTIFICATE_VERIFY_FAILED" in why


def test_once_exits_nonzero_and_names_the_gateway_that_is_not_ready(tmp_path, pki, tls_gateway):
    cfg = tls_config(tmp_path, pki, tls_gateway.server_address[1])
    assert lb_health.run(cfg.path, "--once").stdout.strip() == "gateway-gw1: ready (HTTP 200)"
    refused = config(tmp_path, gateways=[{"name": "gateway-gw9", "address": "127.0.0.1:9"}], timeout_s=1)
    done = lb_health.run(refused, "--once")
    assert done.returncode == 1 and done.stdout.strip() == "gateway-gw9: not ready (ConnectionRefusedError)"
