"""Active readiness checks with real parts: two `gateway serve` processes, each with its own Redis
over mTLS, behind Debian's nginx whose upstream list `appliance-lb-health` keeps.

Gateway 0's Redis is stopped: its `/health/readiness/dependencies` answers 503 while the process
still accepts connections, which nginx's passive checks never notice. The checker marks it down
and reloads nginx; every request then goes to gateway 1, without a failed request. Redis comes
back: gateway 0 passes `rise` probes and gets traffic again.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.appliance.servers import _stop
from tests.ha import lb_health
from tests.ha.nginx import Nginx
from tests.ha.redis_server import RedisServer, redis_env
from tests.ha.test_nginx_failover import gateway_config
from tests.integration.gateway_process import GatewayProcess
from tests.observability.conftest import AUTH

pytestmark = pytest.mark.slow

BODY = {"model": "ha", "messages": [{"role": "user", "content": "which gateway?"}]}


def wait_for(predicate, seconds: float, what: str, log) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    pytest.fail(f"{what} within {seconds} s; checker log:\n{log.read_text()}")


def upstreams_of(nginx: Nginx, since: int) -> set[str]:
    return {m.group(1) for line in nginx.access_log()[since:] if (m := re.search(r"upstream=(\S+)", line))}


def send(url: str, n: int) -> list[int]:
    return [httpx.post(url, json=BODY, headers=AUTH, timeout=30).status_code for _ in range(n)]


def test_a_gateway_that_is_not_ready_is_taken_out_and_put_back(tmp_path, pki, upstream):
    redis = [RedisServer(pki.dir).start() for _ in range(2)]
    for i in range(2):
        (tmp_path / f"gw{i}").mkdir()
    gateways = [GatewayProcess(gateway_config(tmp_path / f"gw{i}", upstream, r.port), tmp_path / f"gw{i}.log",
                               env=redis_env(pki, r.port)) for i, r in enumerate(redis)]
    addresses = []
    nginx = checker = None
    log = tmp_path / "lb-health.log"
    try:
        for gw in gateways:
            gw.wait_ready()
            addresses.append(f"127.0.0.1:{gw.port}")
        upstreams = tmp_path / "upstreams.conf"
        nginx = Nginx([], upstreams_file=upstreams)
        config = lb_health.write_config(
            tmp_path / "lb-health.json", gateways=[{"name": f"gw{i}", "address": a} for i, a in enumerate(addresses)],
            upstreams_file=str(upstreams), nginx_pid_file=str(nginx.pid_file),
            server_options="max_fails=1 fail_timeout=5s", interval_s=0.5, timeout_s=2, rise=2, fall=2)
        assert lb_health.run(config, "--render").returncode == 0
        nginx.start()
        checker = lb_health.start(config, log)
        url = f"{nginx.url}/v1/chat/completions"

        mark = len(nginx.access_log())
        assert send(url, 8) == [200] * 8
        assert upstreams_of(nginx, mark) == set(addresses), "both gateways serve while both are ready"

        redis[0].stop()
        wait_for(lambda: " down;  # gw0" in upstreams.read_text(), 15, "gw0 marked down", log)
        time.sleep(1)  # the reload: new workers take over, old ones finish what they had
        mark = len(nginx.access_log())
        assert send(url, 8) == [200] * 8
        assert upstreams_of(nginx, mark) == {addresses[1]}, "only the ready gateway gets traffic"
        assert "gw0: NOT ready (HTTP 503): out of nginx's list" in log.read_text()

        redis[0].start()
        wait_for(lambda: " down;" not in upstreams.read_text(), 20, "gw0 back in the list", log)
        time.sleep(1)
        mark = len(nginx.access_log())
        assert send(url, 8) == [200] * 8
        assert upstreams_of(nginx, mark) == set(addresses), "gw0 serves again"
        assert "gw0: ready (HTTP 200): back in nginx's list" in log.read_text()
        errors = [line for line in nginx.error_log().splitlines() if "[emerg]" in line or "[alert]" in line]
        assert errors == []
    finally:
        if checker is not None:
            _stop(checker, grace=5)
        if nginx is not None:
            nginx.close()
        for gw in gateways:
            gw.stop()
        for r in redis:
            r.close()
