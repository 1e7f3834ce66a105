"""A gateway restarted under load behind HAProxy (its TLS front and the load balancer, the generated
configuration) fails no request when its listening socket outlives the process, as the gateway role's
`gateway.socket` does (systemd socket activation): the test holds the socket and hands it to each
`gateway serve` the way systemd does (fd 3, LISTEN_FDS=1, LISTEN_PID), stops the first process with
SIGTERM (what `systemctl restart` sends) and starts the next one on the same socket.

Expected: every request succeeds; those sent during the restart wait in the kernel's backlog until the
new process accepts them (their latency is the restart window, printed with `-s`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.ha import load
from tests.ha.haproxy import Site, close_site, gateway_tls_args, https_ready, wait_for
from tests.helpers import wait_until, write_config
from tests.integration.gateway_process import ROOT, GatewayProcess
from tests.observability.conftest import AUTH

pytestmark = pytest.mark.slow

CONCURRENCY = 4
DURATION_S = 20.0
RESTART_AT_S = 5.0
UPSTREAM_LATENCY_MS = 200
# What systemd does between fork and exec: the socket on fd 3, LISTEN_PID = this process.
LAUNCH = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ.update(LISTEN_FDS='1', "
          "LISTEN_PID=str(os.getpid())); os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")


class ActivatedGateway(GatewayProcess):
    """`gateway serve` on a socket it inherits, started as systemd starts gateway.service."""

    def __init__(self, config, log, sock: socket.socket, extra_args: list[str]):
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [sys.executable, "-c", LAUNCH, str(sock.fileno()), "-m", "gateway", "serve", "--config", str(config),
               "--port", str(self.port), *extra_args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
                                     pass_fds=(sock.fileno(),), start_new_session=True)


def test_a_restart_on_a_held_socket_fails_no_request(tmp_path, pki, upstream):
    upstream.set_behaviour("ha", latency_ms=UPSTREAM_LATENCY_MS)
    config = write_config(tmp_path, {
        "model_list": [{"model_name": "ha", "litellm_params": {"model": "openai/ha", "api_base": upstream.base_url,
                                                                "api_key": "x"}}],
        "general_settings": {"master_key": "sk-test"},
    })
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)
    first = ActivatedGateway(config, tmp_path / "gw-first.log", listener, gateway_tls_args(pki))
    gateways, site, restart, restarter = [first], None, {}, []
    try:
        first.wait_ready(probe=lambda: https_ready(first, pki))
        assert "listening socket: from systemd" in first.log()
        site = Site(pki, [first.port]).start()
        tls = site.client_tls()
        wait_for(lambda: site.states() == {"gw0": "UP"}, 60, "the gateway UP", site.states)
        body = {"model": "ha", "messages": [{"role": "user", "content": "restart"}]}
        url = f"{site.url}/v1/chat/completions"
        for _ in range(3):
            assert httpx.post(url, json=body, headers=AUTH, verify=tls, timeout=30).status_code == 200

        def restart_gateway() -> None:
            """systemctl restart: SIGTERM, wait for the exit (in-flight requests finish), start the next."""
            def run() -> None:
                started = time.monotonic()
                os.killpg(first.proc.pid, signal.SIGTERM)
                first.proc.wait(timeout=60)
                restart["stopped_s"] = time.monotonic() - started
                second = ActivatedGateway(config, tmp_path / "gw-second.log", listener, gateway_tls_args(pki))
                gateways.append(second)
                second.wait_ready(probe=lambda: https_ready(second, pki))
                restart["ready_s"] = time.monotonic() - started
            restarter.append(threading.Thread(target=run, daemon=True))
            restarter[0].start()

        samples, (t_restart,) = load.run(url, body, AUTH, CONCURRENCY, DURATION_S,
                                         [(RESTART_AT_S, restart_gateway)], verify=tls)
        # On a busy machine the new process can come up after the load's last request: its clients then
        # finish at once, before the readiness probe has recorded ready_s. Let the restart finish first.
        restarter[0].join(timeout=120)
        # The checks take the new process back in a few intervals after it is ready (longer when the
        # restart itself took long): poll for that, then assert on what is there.
        wait_until(lambda: site.states() == {"gw0": "UP"}, timeout=60)
        states = site.states()
    finally:
        log = close_site(site, gateways)
        listener.close()

    before, during, after = load.split(samples, [t_restart])
    windows = [load.window(name, part) for name, part in (
        ("before the restart", before), ("in flight at SIGTERM", during), ("after SIGTERM", after))]
    slowest = max(samples, key=lambda s: s.ended - s.started)
    failures = load.failures(samples)
    report = "\n".join([
        load.table(windows),
        f"SIGTERM at {t_restart:.2f} s; old process gone after {restart.get('stopped_s', -1):.2f} s, new one "
        f"ready after {restart.get('ready_s', -1):.2f} s; slowest request {slowest.ended - slowest.started:.2f} s "
        f"(started at {slowest.started:.2f} s); failures (start, end, outcome): {failures}",
        f"server states at the end: {states}",
        *[line for line in log.splitlines() if " is DOWN" in line or " is UP" in line][:10],
        *[line for line in log.splitlines() if " 200 " not in line][:40],
    ])
    print("\n" + report)
    assert "ready_s" in restart, report  # the second process served
    assert not failures, report
    # The restart was not free: someone waited in the backlog while no process accepted.
    assert slowest.ended - slowest.started > 1.0 and slowest.started > t_restart - 1, report
    assert windows[2].total > 0 and states == {"gw0": "UP"}, report
