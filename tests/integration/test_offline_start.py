"""In a namespace with only loopback, `gateway serve` starts and routes without one DNS query."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.helpers import knn_config, wait_until, write_config
from tests.integration.gateway_process import ROOT, GatewayProcess, free_port
from tests.integration.netns import LoopbackNamespace

pytestmark = [pytest.mark.netns, pytest.mark.slow]

CLIENT = """
import httpx, json, sys
url, text, stream = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
body = {"model": "auto", "stream": stream, "messages": [{"role": "user", "content": text}]}
r = httpx.post(url + "/v1/chat/completions", json=body, headers={"Authorization": "Bearer sk-test"}, timeout=30)
print(json.dumps({"status": r.status_code, "routed": r.headers.get("x-gateway-routed-model")}))
"""


@pytest.fixture
def namespace():
    ns = LoopbackNamespace(f"gwoff{os.getpid()}")
    yield ns
    ns.delete()


def test_offline_start_makes_no_dns_query(namespace, tmp_path, demo_artifact):
    assert namespace.links() == ["lo"], "the namespace must have loopback only"
    queries = tmp_path / "dns-queries.txt"
    observer = subprocess.Popen([*namespace.prefix, sys.executable, "-m", "tests.integration.dns_observer",
                                 "--out", str(queries)], cwd=ROOT)
    upstream_port = free_port()
    upstream = subprocess.Popen([*namespace.prefix, sys.executable, "-m", "tests.fake_upstream",
                                 "--port", str(upstream_port)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gateway = None
    try:
        assert wait_until(queries.exists), "DNS observer did not start"
        # The observer must see a lookup, or a zero below proves nothing.
        namespace.run("getent", "hosts", "observer-check.example", capture_output=True, timeout=15)
        assert wait_until(lambda: "observer-check.example" in queries.read_text()), "observer saw no query"
        queries.write_text("")

        config = write_config(tmp_path, knn_config(demo_artifact, api_base=f"http://127.0.0.1:{upstream_port}/v1"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM_", "HF_", "TRANSFORMERS_"))}
        gateway = GatewayProcess(config, tmp_path / "gateway.log", prefix=namespace.prefix, env=env)
        # Only the gateway's own defaults may keep it offline: the test strips them from its env.
        ready = _wait_ready_in_namespace(namespace, gateway)
        for text, stream, expected in [("Write a Python class for a stack", "0", "demo-coder"),
                                       ("Say thanks in German", "1", "demo-small")]:
            out = namespace.run(sys.executable, "-c", CLIENT, gateway.url, text, stream,
                                capture_output=True, text=True, timeout=60, cwd=ROOT)
            result = json.loads(out.stdout)
            assert result == {"status": 200, "routed": expected}, out.stderr
        time.sleep(1.0)
        assert queries.read_text().split() == [], f"DNS queries during start and requests: {queries.read_text()}"
        assert ready < 90
    finally:
        if gateway is not None:
            gateway.stop()
        for proc in (upstream, observer):
            proc.terminate()
            proc.wait(timeout=10)


def _wait_ready_in_namespace(namespace, gateway, timeout=90.0):
    probe = "import httpx,sys; sys.exit(0 if httpx.get(sys.argv[1], timeout=1).status_code == 200 else 1)"
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if gateway.proc.poll() is not None:
            raise AssertionError(f"gateway exited:\n{gateway.log()[-3000:]}")
        done = namespace.run(sys.executable, "-c", probe, f"{gateway.url}/health/liveliness",
                             capture_output=True, cwd=ROOT)
        if done.returncode == 0:
            return time.monotonic() - started
        time.sleep(0.3)
    raise AssertionError(f"gateway not ready in the namespace:\n{gateway.log()[-3000:]}")
