"""HTTP/2 to the users and at each gateway's own TLS front: both HAProxy listeners (the generated
configuration, `alpn h2,http/1.1`) speak h2 to an HTTP/2 client on every kind of endpoint (chat, streamed
chat, /v1/models, health, A2A streaming) and HTTP/1.1 to an HTTP/1.1 client, and HTTP/1.1 to uvicorn
(which has no HTTP/2: a client reaching it directly falls back to HTTP/1.1).

The front stays what it was in TCP mode: the balancer's health checks reach the gateway through it over
mTLS, streamed answers pass unbuffered, a body over the cap is answered 413 there, and an identity it does
not admit is refused after the handshake, before any HTTP, with its subject in the front's log.
"""

from __future__ import annotations

import json
import ssl
import time
import uuid

import httpx
import pytest

from gateway.appliance.haproxy import MIB
from gateway.appliance.manifest import DEFAULT_MAX_REQUEST_SIZE_MB
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
        wait_for(lambda: set(balancer.states().values()) == {"UP"}, 60, "the gateway UP", balancer.states)
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


def test_the_gateway_front_speaks_http2_on_every_endpoint(site):
    balancer, _ = site
    front = balancer.front_urls[0]
    mark = len(balancer.haproxy.log().splitlines())
    with httpx.Client(http2=True, verify=balancer.front_tls(), timeout=30) as client:
        seen = exercise(client, front)
    assert set(seen.values()) == {"HTTP/2"}, seen
    with httpx.Client(http2=False, verify=balancer.front_tls(), timeout=30) as client:
        assert set(exercise(client, front).values()) == {"HTTP/1.1"}
    # The front ended h2 itself (its own log line per request) and passed the request on to the gateway.
    lines = balancer.haproxy.log().splitlines()[mark:]
    served = [ln for ln in lines if " gw0~ gw0/gw0 " in ln and 'subject="CN=loadbalancer,O=Example Site"' in ln]
    assert any('"GET /v1/models HTTP/2.0"' in ln and " 200 " in ln for ln in served), lines[-5:]
    assert any('"POST /a2a/echo HTTP/2.0"' in ln for ln in served), lines[-5:]
    assert any('"GET /v1/models HTTP/1.1"' in ln for ln in served), lines[-5:]


def test_the_balancer_checks_the_gateway_through_its_http_front_over_mtls(site):
    balancer, _ = site
    checks = [ln for ln in balancer.haproxy.log().splitlines() if " gw0~ gw0/gw0 " in ln
              and '"GET /health/readiness/dependencies HTTP/1.1"' in ln]
    assert checks and all('verify=0 subject="CN=loadbalancer,O=Example Site"' in ln and " 200 " in ln
                          for ln in checks), checks[-3:]


@pytest.mark.parametrize("where", ["front", "balancer"])
def test_a_streamed_answer_passes_unbuffered_over_h2(site, upstream, where):
    """Each word comes 150 ms after the last: buffered, every event would arrive at the end at once."""
    balancer, _ = site
    upstream.set_behaviour("h2", answer="one two three four five six", chunk_delay_ms=150)
    url, tls = ((balancer.front_urls[0], balancer.front_tls()) if where == "front"
                else (balancer.url, balancer.client_tls()))
    arrivals = []
    with httpx.Client(http2=True, verify=tls, timeout=30) as client, \
            client.stream("POST", f"{url}/v1/chat/completions", json={**CHAT, "stream": True}, headers=AUTH) as r:
        assert r.http_version == "HTTP/2" and r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("data:") and '"content":"' in line.replace(" ", "") and "[DONE]" not in line:
                arrivals.append(time.monotonic())
    words = [arrivals[i + 1] - arrivals[i] for i in range(len(arrivals) - 1)]
    assert len(arrivals) >= 6 and arrivals[-1] - arrivals[0] > 0.5, words


def _h2_declared_post(port: int, tls: ssl.SSLContext, declared: int) -> tuple[int, bytes]:
    """An h2 POST whose headers declare `declared` body bytes and send none (an h2 client sends its whole body
    before it reads an answer: over a cap the front never reads, httpx would block); returns status, body."""
    import socket

    import h2.config
    import h2.connection
    import h2.events

    tls.set_alpn_protocols(["h2"])
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "POST"), (":path", "/v1/chat/completions"), (":scheme", "https"),
                          (":authority", "gateway.appliance.internal"), ("content-type", "application/json"),
                          ("authorization", AUTH["Authorization"]), ("content-length", str(declared))])
    status, body = 0, b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, tls.wrap_socket(raw) as sock:
        assert sock.selected_alpn_protocol() == "h2"
        sock.sendall(conn.data_to_send())
        while True:
            data = sock.recv(65536)
            if not data:
                break
            events = conn.receive_data(data)
            for event in events:
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
            sock.sendall(conn.data_to_send())
            if any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) for e in events):
                break
    return status, body


def test_the_front_answers_413_over_the_cap_before_the_gateway(site):
    balancer, _ = site
    port = int(balancer.front_urls[0].rpartition(":")[2])
    cap = int(DEFAULT_MAX_REQUEST_SIZE_MB * MIB)
    mark = len(balancer.haproxy.log().splitlines())
    status, body = _h2_declared_post(port, balancer.front_tls(), cap + 1)
    assert status == 413 and json.loads(body)["error"]["code"] == "request_too_large", body
    assert "the TLS front of the gateway" in json.loads(body)["error"]["message"]
    wait_for(lambda: any(" gw0~ gw0/<NOSRV> " in ln and " 413 " in ln and "HTTP/2.0" in ln
                         for ln in balancer.haproxy.log().splitlines()[mark:]), 30, "the front's 413 logged",
             lambda: balancer.haproxy.log().splitlines()[-3:])


@pytest.mark.parametrize("identity", ["gateway", None])
def test_the_front_refuses_before_any_http_whom_it_does_not_admit(site, pki, identity):
    """Over h2 as over HTTP/1.1 (the refusal matrix): after the handshake, by a tcp-request session rule."""
    balancer, _ = site
    with httpx.Client(http2=True, verify=balancer.front_tls(), timeout=30) as client:
        assert client.get(f"{balancer.front_urls[0]}/health/liveliness").http_version == "HTTP/2"
    tls = balancer.front_tls(identity) if identity else balancer.client_tls()
    mark = len(balancer.haproxy.log().splitlines())
    with httpx.Client(http2=True, verify=tls, timeout=30) as client, pytest.raises(httpx.TransportError):
        client.get(f"{balancer.front_urls[0]}/health/liveliness")
    subject = f"CN={identity},O=Example Site" if identity else "-"
    line = f'gw0~ refused fc_err=0 cert={int(bool(identity))} verify=0 subject="{subject}"'
    wait_for(lambda: any(line in ln for ln in balancer.haproxy.log().splitlines()[mark:]), 30, line,
             lambda: balancer.haproxy.log().splitlines()[-3:])
    assert not [ln for ln in balancer.haproxy.log().splitlines()[mark:] if " gw0~ gw0/" in ln and subject in ln]


def test_uvicorn_itself_answers_an_h2_client_in_http11(site, pki):
    _, gw = site
    direct = ssl.create_default_context(cafile=str(pki.ca))
    direct.check_hostname = False
    with httpx.Client(http2=True, verify=direct, timeout=30) as client:
        assert set(exercise(client, f"https://127.0.0.1:{gw.port}").values()) == {"HTTP/1.1"}
