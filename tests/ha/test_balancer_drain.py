"""The gateway role's drain before a restart (ansible/roles/gateway/files/balancer-server.py), against Debian's
HAProxy with the generated load balancer over two real gateways, under load: `drain` takes gateway 0 out of
the rotation and returns once its sessions ended, no new request reaches it while the other serves them
all, and `ready` brings it back; not one request fails."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from tests.ha import load
from tests.ha.haproxy import Site, close_site, gateway_tls_args, https_ready, wait_for
from tests.helpers import write_config
from tests.integration.gateway_process import ROOT, GatewayProcess
from tests.observability.conftest import AUTH

pytestmark = pytest.mark.slow

SCRIPT = ROOT / "ansible/roles/gateway/files/balancer-server.py"


def balancer_server(site: Site, server: str, state: str, *extra: str) -> dict:
    out = subprocess.run([sys.executable, str(SCRIPT), site.haproxy.paths.stats_socket, site.backend, server, state,
                          *extra], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def total_sessions(site: Site, server: str) -> int:
    rows = csv.DictReader(io.StringIO(site.haproxy.command("show stat").lstrip("# ")))
    (row,) = [r for r in rows if r["pxname"] == site.backend and r["svname"] == server]
    return int(row["stot"])


def test_drain_takes_a_gateway_out_until_ready_and_no_request_fails(tmp_path, pki, upstream):
    upstream.set_behaviour("ha", latency_ms=200)
    config = write_config(tmp_path, {
        "model_list": [{"model_name": "ha", "litellm_params": {"model": "openai/ha", "api_base": upstream.base_url,
                                                                "api_key": "x"}}],
        "general_settings": {"master_key": "sk-test"},
    })
    gateways = [GatewayProcess(config, tmp_path / f"gw{i}.log", extra_args=gateway_tls_args(pki)) for i in range(2)]
    site, seen = None, {}
    try:
        for gw in gateways:
            gw.wait_ready(probe=lambda gw=gw: https_ready(gw, pki))
        site = Site(pki, [gw.port for gw in gateways]).start()
        wait_for(lambda: site.states() == {"gw0": "UP", "gw1": "UP"}, 60, "both gateways UP", site.states)
        unknown = subprocess.run([sys.executable, str(SCRIPT), site.haproxy.paths.stats_socket, site.backend, "gw9",
                                  "drain"], capture_output=True, text=True, timeout=60)
        assert unknown.returncode != 0 and "no server loadbalancer-gateways/gw9" in unknown.stderr, unknown.stderr

        def drain() -> None:
            seen["drain"] = balancer_server(site, "gw0", "drain", "--wait", "20")
            seen["after_drain"] = total_sessions(site, "gw0")
            seen["state_drained"] = site.states()["gw0"]

        def ready() -> None:
            seen["before_ready"] = total_sessions(site, "gw0")
            seen["ready"] = balancer_server(site, "gw0", "ready")
            seen["ready_again"] = balancer_server(site, "gw0", "ready")

        body = {"model": "ha", "messages": [{"role": "user", "content": "drain"}]}
        samples, _ = load.run(f"{site.url}/v1/chat/completions", body, AUTH, 4, 16.0, [(3.0, drain), (10.0, ready)],
                              verify=site.client_tls())
        seen["end"] = total_sessions(site, "gw0")
        seen["state_end"] = site.states()
    finally:
        close_site(site, gateways)

    failures = load.failures(samples)
    report = f"{seen}; {len(samples)} requests; failures: {failures}"
    print("\n" + report)
    assert not failures, report
    assert seen["drain"]["state"] == "drain" and seen["drain"]["sessions_left"] == 0, report
    # What the role reports as changed: drain and ready each once, a second ready nothing.
    assert [seen[k]["changed"] for k in ("drain", "ready", "ready_again")] == [True, True, False], report
    assert seen["state_drained"] == "DRAIN", report
    assert seen["before_ready"] == seen["after_drain"], report  # drained: not one new request reached it
    assert seen["end"] > seen["before_ready"] and seen["state_end"] == {"gw0": "UP", "gw1": "UP"}, report
