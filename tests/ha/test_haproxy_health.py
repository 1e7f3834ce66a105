"""HAProxy's active readiness checks, with real parts and the generated configuration: two `gateway
serve` processes over HTTPS, each with its own Redis over mTLS, each behind its TLS front; the load
balancer checks `/health/readiness/dependencies` through the fronts with the `loadbalancer` client
certificate, the site CA and the CRLs.

- Gateway 0's Redis is stopped: its readiness answers 503 while the process still accepts connections
  (real requests would not notice). HAProxy takes it out; every request goes to gateway 1, none fails.
  A graceful reload under load loses nothing and keeps gateway 0 out. Redis comes back: gateway 0
  passes `rise` checks and serves again. With both Redis down no gateway is ready: both still get
  the traffic (fail open).
- The checks present the `loadbalancer` identity: once it is revoked (CRL) and HAProxy reloaded, the
  fronts refuse the checks, log the subject and the reason, and both gateways leave the pool; no
  request reaches a gateway.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import threading

import httpx
import pytest

from gateway.appliance import pki as site_pki
from gateway.appliance.loader import load
from tests.appliance.conftest import EXAMPLES
from tests.ha.haproxy import Site, wait_for
from tests.ha.redis_server import RedisServer
from tests.ha.test_haproxy_failover import gateway_config, start_gateways
from tests.observability.conftest import AUTH

pytestmark = pytest.mark.slow

BODY = {"model": "ha", "messages": [{"role": "user", "content": "which gateway?"}]}
# The balancer's log line: "... loadbalancer~ loadbalancer-gateways/gw1 0/0/1/12/13 200 ..."
SERVED_BY = re.compile(r" loadbalancer-gateways/(gw\d(?:-fallback)?) \S+ (\d{3}) ")


def served_by(site: Site, since: int, n: int = 0) -> list[tuple[str, str]]:
    """(server, status) of the requests logged since line `since`; waits for `n` of them first, since
    HAProxy writes a request's line when the stream ends, which can be after the client has its answer."""
    def lines():
        return [m.groups() for line in site.haproxy.log().splitlines()[since:] if (m := SERVED_BY.search(line))]

    wait_for(lambda: len(lines()) >= n, 30, f"{n} requests in HAProxy's log", lambda: lines())
    return lines()


def send(site: Site, n: int) -> list[int]:
    with httpx.Client(verify=site.client_tls(), timeout=30) as http:
        return [http.post(f"{site.url}/v1/chat/completions", json=BODY, headers=AUTH).status_code for _ in range(n)]


def log_lines(site: Site) -> int:
    return len(site.haproxy.log().splitlines())


@pytest.fixture
def two_gateways(tmp_path, pki, upstream):
    """Two gateways over HTTPS, each with its own Redis: ([redis 0, redis 1], [gateway 0, gateway 1])."""
    redis = [RedisServer(pki.dir).start() for _ in range(2)]
    configs = []
    for i, r in enumerate(redis):
        (tmp_path / f"gw{i}").mkdir()
        configs.append((gateway_config(tmp_path / f"gw{i}", upstream, r.port), r.port))
    gateways = []
    try:
        gateways = start_gateways(pki, configs, tmp_path)
        yield redis, gateways
    finally:
        for gw in gateways:
            gw.stop()
        for r in redis:
            r.close()


def test_a_gateway_that_is_not_ready_leaves_the_pool_and_comes_back(pki, two_gateways):
    redis, gateways = two_gateways
    site = Site(pki, [gw.port for gw in gateways]).start()
    try:
        wait_for(lambda: site.states() == {"gw0": "UP", "gw1": "UP"}, 60, "both gateways UP", site.states)
        mark = log_lines(site)
        assert send(site, 8) == [200] * 8
        assert {gw for gw, _ in served_by(site, mark, 8)} == {"gw0", "gw1"}, "both gateways serve while both are ready"

        redis[0].stop()
        wait_for(lambda: site.states()["gw0"] == "DOWN", 60, "gw0 out of the pool", site.states)
        down = "Server loadbalancer-gateways/gw0 is DOWN, reason: Layer7 wrong status, code: 503"
        wait_for(lambda: down in site.haproxy.log(), 30, down, lambda: site.haproxy.log().splitlines()[-5:])
        mark = log_lines(site)
        assert send(site, 8) == [200] * 8
        assert {gw for gw, _ in served_by(site, mark, 8)} == {"gw1"}, "only the ready gateway gets traffic"

        # A graceful reload (what the role's handler does after a renewal or a revocation) under load: no
        # request fails, and the new process takes the servers' states (gw0 stays out).
        statuses, stop, mark = [], threading.Event(), log_lines(site)

        def keep_sending():
            with httpx.Client(verify=site.client_tls(), timeout=30) as http:
                while not stop.is_set():
                    statuses.append(http.post(f"{site.url}/v1/chat/completions", json=BODY, headers=AUTH).status_code)

        sender = threading.Thread(target=keep_sending)
        sender.start()
        try:
            wait_for(lambda: len(statuses) >= 3, 30, "requests before the reload")
            loaded = site.haproxy.log().count("Loading success.")
            site.haproxy.reload()
            wait_for(lambda: site.haproxy.log().count("Loading success.") > loaded, 60, "the reload", site.haproxy.log)
            seen = len(statuses)
            wait_for(lambda: len(statuses) >= seen + 5, 30, "requests after the reload")
        finally:
            stop.set()
            sender.join(timeout=60)
        assert set(statuses) == {200}, statuses
        assert site.states()["gw0"] == "DOWN"
        assert {gw for gw, _ in served_by(site, mark, len(statuses))} == {"gw1"}, "the reload did not put gw0 back"

        redis[0].start()
        wait_for(lambda: site.states()["gw0"] == "UP", 60, "gw0 back in the pool", site.states)
        mark = log_lines(site)
        assert send(site, 8) == [200] * 8
        assert {gw for gw, _ in served_by(site, mark, 8)} == {"gw0", "gw1"}, "gw0 serves again"
        up = "Server loadbalancer-gateways/gw0 is UP"
        wait_for(lambda: up in site.haproxy.log(), 30, up, lambda: site.haproxy.log().splitlines()[-5:])

        # Fail open: no gateway is ready (both Redis down); both still get the traffic rather than none.
        for r in redis:
            r.stop()
        wait_for(lambda: site.states() == {"gw0": "DOWN", "gw1": "DOWN"}, 60, "both gateways out", site.states)
        mark = log_lines(site)
        assert send(site, 4) == [200] * 4
        assert {gw for gw, _ in served_by(site, mark, 4)} <= {"gw0-fallback", "gw1-fallback"}
    finally:
        site.close()


def test_the_checks_present_the_loadbalancer_identity_and_a_revoked_one_is_refused(tmp_path, pki, two_gateways):
    _, gateways = two_gateways
    own = dataclasses.replace(pki, dir=tmp_path / "pki", ca=tmp_path / "pki" / "ca-bundle.pem")
    shutil.copytree(pki.dir, own.dir)
    site = Site(own, [gw.port for gw in gateways]).start()
    try:
        wait_for(lambda: site.states() == {"gw0": "UP", "gw1": "UP"}, 60, "both gateways UP", site.states)
        checks = [line for line in site.haproxy.log().splitlines() if " gw0/gw0 " in line]
        assert any('verify=0 subject="CN=loadbalancer,O=Example Site"' in line for line in checks), checks[-3:]

        single_node = load(EXAMPLES / "single-node" / "appliance.yaml").manifest
        site_pki.revoke(single_node, own.dir, "client", "loadbalancer", "keyCompromise")
        site.haproxy.write_certs()  # the haproxy role's copy of the CRL bundle changes: it reloads HAProxy
        mark = log_lines(site)
        site.haproxy.reload()
        wait_for(lambda: site.states() == {"gw0": "DOWN", "gw1": "DOWN"}, 60, "both gateways out", site.states)
        # The front refuses the session (tcp-request session reject, before any HTTP): its error-log line.
        refused = [line for line in site.haproxy.log().splitlines()[mark:] if " gw0~ refused fc_err=0 " in line]
        # 23: X509_V_ERR_CERT_REVOKED, logged with the subject that was refused.
        assert any('verify=23 subject="CN=loadbalancer,O=Example Site"' in line for line in refused), refused[-3:]
        # Failing open does not help a refused identity: the fronts refuse the fallback connections too.
        mark = log_lines(site)
        with httpx.Client(verify=site.client_tls(), timeout=30) as http:
            try:
                outcome = str(http.post(f"{site.url}/v1/chat/completions", json=BODY, headers=AUTH).status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
        assert outcome in {"502", "503", "RemoteProtocolError"}, outcome
        assert served_by(site, mark) == [] or {code for _, code in served_by(site, mark)} <= {"502", "503"}
    finally:
        site.close()
