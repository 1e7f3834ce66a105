"""HTTP/2 to the users: the load balancer (HAProxy, the generated configuration with `alpn h2,http/1.1`)
speaks h2 to an HTTP/2 client on every kind of endpoint (chat, streamed chat, /v1/models, health,
A2A streaming), and HTTP/1.1 to the gateway behind it.

Behind the balancer nothing speaks h2, on purpose: uvicorn has no HTTP/2, and each gateway's TLS front
passes TCP through (it checks client certificates and CRLs, not HTTP). The same h2-capable client that
gets HTTP/2 from the balancer is answered in HTTP/1.1 there (ALPN falls back), and still served.
"""

from __future__ import annotations

import json
import ssl
import uuid

import httpx
import pytest

from tests.agents.servers import ThreadedServer
from tests.ha.haproxy import Site, gateway_tls_args, https_ready, wait_for
from tests.helpers import write_config
from tests.integration.gateway_process import GatewayProcess
from tests.observability.conftest import AUTH

pytestmark = pytest.mark.slow
AGENT = "echo"
CHAT = {"model": "h2", "messages": [{"role": "user", "content": "hello over h2"}]}


def _config(tmp_path, upstream, agent_url: str):
    return write_config(tmp_path, {
        "model_list": [{"model_name": "h2", "litellm_params": {"model": "openai/h2", "api_base": upstream.base_url,
                                                                "api_key": "x"}}],
        "agents": [{"agent_name": AGENT, "agent_card_params": {
            "protocolVersion": "1.0", "name": "echo-agent", "description": "Echoes", "url": agent_url,
            "version": "1.0.0", "capabilities": {"streaming": True}, "defaultInputModes": ["text/plain"],
            "defaultOutputModes": ["text/plain"],
            "skills": [{"id": "echo", "name": "Echo", "description": "Repeats", "tags": ["test"]}]}}],
        "general_settings": {"master_key": "sk-test"},
    })


@pytest.fixture
def site(tmp_path, pki, upstream):
    """One gateway over HTTPS behind its TLS front and the load balancer, with an A2A agent behind it."""
    from tests.agents import a2a_peer

    agent = ThreadedServer("a2a-agent")
    agent.start(a2a_peer.build_app(agent.url), "/.well-known/agent-card.json")
    gw = GatewayProcess(_config(tmp_path, upstream, agent.url), tmp_path / "gw.log",
                        extra_args=gateway_tls_args(pki))
    balancer = None
    try:
        gw.wait_ready(probe=lambda: https_ready(gw, pki))
        balancer = Site(pki, [gw.port]).start()
        wait_for(lambda: set(balancer.states().values()) == {"UP"}, 15, "the gateway UP", balancer.states)
        yield balancer, gw
    finally:
        if balancer is not None:
            balancer.close()
        gw.stop()
        agent.stop()


def exercise(client: httpx.Client, url: str) -> dict[str, str]:
    """Every kind of endpoint once; returns endpoint -> HTTP version of its response (each checked 200)."""
    seen = {}

    def record(name: str, r: httpx.Response) -> None:
        assert r.status_code == 200, (name, r.status_code, r.text[:300])
        seen[name] = r.http_version

    record("liveliness", client.get(f"{url}/health/liveliness"))
    record("readiness", client.get(f"{url}/health/readiness"))
    models = client.get(f"{url}/v1/models", headers=AUTH)
    record("models", models)
    assert "h2" in [m["id"] for m in models.json()["data"]]
    chat = client.post(f"{url}/v1/chat/completions", json=CHAT, headers=AUTH)
    record("chat", chat)
    assert chat.json()["choices"][0]["message"]["content"]
    with client.stream("POST", f"{url}/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH) as r:
        lines = [line for line in r.iter_lines() if line.startswith("data:")]
        record("chat stream", r)
    assert r.headers["content-type"].startswith("text/event-stream") and lines[-1] == "data: [DONE]", lines[-3:]
    message = {"role": "user", "messageId": uuid.uuid4().hex, "parts": [{"kind": "text", "text": "h2"}]}
    rpc = {"jsonrpc": "2.0", "id": "1", "method": "message/stream", "params": {"message": message}}
    with client.stream("POST", f"{url}/a2a/{AGENT}", json=rpc, headers=AUTH) as r:
        events = [json.loads(line[5:]) for line in r.iter_lines() if line.startswith("data:")]
        record("a2a stream", r)
    assert events and all("result" in e for e in events), events
    return seen


def test_the_load_balancer_speaks_http2_on_every_endpoint(site):
    balancer, _ = site
    with httpx.Client(http2=True, verify=balancer.client_tls(), timeout=30) as client:
        seen = exercise(client, balancer.url)
    assert set(seen.values()) == {"HTTP/2"}, seen
    # An HTTP/1.1-only client is still served by the same listener.
    with httpx.Client(http2=False, verify=balancer.client_tls(), timeout=30) as client:
        assert set(exercise(client, balancer.url).values()) == {"HTTP/1.1"}


def test_behind_the_balancer_an_h2_client_falls_back_to_http11(site, pki):
    balancer, gw = site
    direct = ssl.create_default_context(cafile=str(pki.ca))
    direct.check_hostname = False
    with httpx.Client(http2=True, verify=direct, timeout=30) as client:
        assert set(exercise(client, f"https://127.0.0.1:{gw.port}").values()) == {"HTTP/1.1"}
    # The gateway's TLS front (mTLS, a site client certificate) passes TCP through: HTTP/1.1 as well.
    front = balancer.ports[1]
    clients = pki.dir / "clients"
    direct.load_cert_chain(str(clients / "loadbalancer.chain.pem"), str(clients / "loadbalancer.key"))
    with httpx.Client(http2=True, verify=direct, timeout=30) as client:
        assert client.get(f"https://127.0.0.1:{front}/health/liveliness").http_version == "HTTP/1.1"
