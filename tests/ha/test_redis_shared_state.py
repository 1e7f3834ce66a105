"""Two gateway processes share a real Redis 7 over mTLS: deployment rate limits (the request over the
limit gets 429, whichever process it reaches), the response cache (served from Redis, expiring with
the configured TTL, invalidated per request and by `/cache/delete`) and the readiness of Redis.

No database: virtual-key limits need PostgreSQL through Prisma (not available here), so the
limit tested is LiteLLM's per-deployment `rpm` counted in Redis (`usage-based-routing-v2`).
"""

from __future__ import annotations

import time

import httpx
import pytest
import redis as redis_client

from tests.ha.redis_server import RedisServer, client, redis_env
from tests.helpers import wait_until, write_config
from tests.integration.gateway_process import GatewayProcess
from tests.observability.conftest import AUTH, chat

pytestmark = pytest.mark.slow

TTL = 4  # cache_params.ttl, seconds: long enough to read twice, short enough to wait out


@pytest.fixture(scope="module")
def shared(tmp_path_factory, pki, fake_upstream):
    """(redis server, redis-py client, [gateway 0, gateway 1]) on one Redis, started once per module."""
    tmp = tmp_path_factory.mktemp("ha-shared")
    server = RedisServer(pki.dir).start()
    data = {
        "model_list": [
            {"model_name": "limited", "litellm_params": {"model": "openai/limited", "api_base": fake_upstream.base_url,
                                                         "api_key": "x", "rpm": 3}},
            {"model_name": "cached", "litellm_params": {"model": "openai/cached", "api_base": fake_upstream.base_url,
                                                        "api_key": "x"}},
        ],
        # num_retries 0: over the limit answers 429 at once instead of waiting for the window
        "router_settings": {"routing_strategy": "usage-based-routing-v2", "num_retries": 0,
                            "redis_host": "127.0.0.1", "redis_port": server.port},
        "litellm_settings": {"callbacks": ["prometheus"], "cache": True,
                             "cache_params": {"type": "redis", "ttl": TTL,
                                              "supported_call_types": ["acompletion", "completion"]}},
        "general_settings": {"master_key": "sk-test"},
    }
    config = write_config(tmp, data)
    gateways = [GatewayProcess(config, tmp / f"gw{i}.log", env=redis_env(pki, server.port)) for i in (0, 1)]
    try:
        for gw in gateways:  # both start at once: about one start-up time instead of two
            gw.wait_ready()
        yield server, client(pki, server.port), gateways
    finally:
        for gw in gateways:
            gw.stop()
        server.close()


def upstream_calls(upstream, content: str) -> int:
    return sum(1 for q in upstream.requests() if (q["body"].get("messages") or [{}])[-1].get("content") == content)


def stored(redis, answer_id: str) -> None:
    """Wait until Redis holds the cache entry of the answer `answer_id`: LiteLLM writes it in a task that
    runs after the answer has been sent, so the next request (from another process) can come first."""
    def held() -> bool:
        for key in redis.scan_iter(count=1000):
            try:
                if answer_id.encode() in (redis.get(key) or b""):
                    return True
            except redis_client.ResponseError:  # not a string (the rate limiter's keys)
                continue
        return False

    assert wait_until(held, timeout=30), f"no cache entry of answer {answer_id} in Redis after 30 s"


def cache_key(gateway, content: str) -> str:
    """The Redis key of `content`'s cached answer, from a hit's `x-litellm-cache-key` header."""
    r = chat(gateway, content, model="cached")
    assert r.status_code == 200 and r.headers.get("x-litellm-cache-key"), (r.status_code, dict(r.headers))
    return r.headers["x-litellm-cache-key"]


def test_mtls_is_enforced_and_rate_limit_holds_across_processes(shared, pki, upstream):
    server, _, gateways = shared
    with pytest.raises(redis_client.ConnectionError):  # no client certificate, no session
        redis_client.Redis(host="127.0.0.1", port=server.port, ssl=True, ssl_ca_certs=str(pki.ca),
                           socket_timeout=5).ping()
    # the counters are per wall-clock minute (`{id}:rpm:%H-%M`): do not straddle two of them
    if (seconds := time.time() % 60) > 45:
        time.sleep(60.5 - seconds)
    statuses = [chat(gateways[i % 2], f"limited {i}", model="limited").status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429], statuses  # rpm 3 shared by both processes
    r = chat(gateways[0], "limited 5", model="limited")
    assert r.status_code == 429 and "rpm_limit': 3" in r.json()["error"]["message"]


def test_cached_answer_comes_from_redis_until_the_ttl(shared, upstream):
    _, redis, gateways = shared
    first = chat(gateways[0], "ttl probe", model="cached")
    stored(redis, first.json()["id"])
    second = chat(gateways[1], "ttl probe", model="cached")  # the other process: a hit, so from Redis
    assert second.json()["id"] == first.json()["id"]
    assert upstream_calls(upstream, "ttl probe") == 1
    key = second.headers["x-litellm-cache-key"]
    assert 0 < redis.ttl(key) <= TTL  # the configured ttl, counting down

    assert wait_until(lambda: redis.exists(key) == 0, timeout=TTL + 2), "the key outlived its ttl"
    # Before gateway.proxy.response_cache, the process that had read the answer kept serving its
    # memory copy here (600 s); now it asks Redis, misses, and calls the upstream again.
    fresh = chat(gateways[1], "ttl probe", model="cached")
    assert fresh.json()["id"] != first.json()["id"]
    assert upstream_calls(upstream, "ttl probe") == 2
    assert chat(gateways[0], "ttl probe", model="cached").json()["id"] == fresh.json()["id"]

    metrics = httpx.get(f"{gateways[1].url}/metrics/", headers=AUTH, timeout=10).text
    assert "litellm_cache_hits_metric_total{" in metrics


def test_per_request_cache_controls(shared, upstream):
    _, redis, gateways = shared
    old = chat(gateways[0], "controls", model="cached").json()["id"]
    stored(redis, old)
    # no-cache: skip the lookup, call the upstream, store the new answer for everyone
    new = chat(gateways[1], "controls", model="cached", cache={"no-cache": True}).json()["id"]
    assert new != old and upstream_calls(upstream, "controls") == 2
    stored(redis, new)
    assert chat(gateways[0], "controls", model="cached").json()["id"] == new  # not the writer's old copy
    # s-maxage: accept a cached answer only that young
    time.sleep(1.1)
    chat(gateways[0], "controls", model="cached", cache={"s-maxage": 1})
    assert upstream_calls(upstream, "controls") == 3

    # no-store: answered by the upstream and kept nowhere; the next request misses
    chat(gateways[0], "not stored", model="cached", cache={"no-store": True})
    chat(gateways[1], "not stored", model="cached")
    assert upstream_calls(upstream, "not stored") == 2

    # ttl: this answer's own lifetime in Redis
    stored(redis, chat(gateways[0], "long lived", model="cached", cache={"ttl": 60}).json()["id"])
    assert 55 <= redis.ttl(cache_key(gateways[1], "long lived")) <= 60


def test_cache_delete_invalidates_every_process(shared, upstream):
    _, redis, gateways = shared
    stored(redis, chat(gateways[0], "delete me", model="cached").json()["id"])
    key = cache_key(gateways[1], "delete me")  # now held by Redis and read by both processes
    r = httpx.post(f"{gateways[0].url}/cache/delete", json={"keys": [key]}, headers=AUTH, timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "success"}
    assert redis.exists(key) == 0
    refill = chat(gateways[1], "delete me", model="cached")
    assert "x-litellm-cache-key" not in refill.headers
    assert upstream_calls(upstream, "delete me") == 2
    stored(redis, refill.json()["id"])
    assert chat(gateways[0], "delete me", model="cached").headers["x-litellm-cache-key"] == key  # the refill


def readiness(gateway) -> httpx.Response:
    return httpx.get(f"{gateway.url}/health/readiness/dependencies", timeout=10)  # no key: a probe's view


def test_readiness_follows_redis(shared):
    """Last in the module: it stops Redis (and starts it again, empty)."""
    server, _, gateways = shared
    # LiteLLM's own probe does not look at Redis: healthy either way
    assert httpx.get(f"{gateways[0].url}/health/readiness", timeout=10).json() == {"status": "healthy",
                                                                                   "db": "Not connected"}
    for gw in gateways:
        r = readiness(gw)
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ready", "redis": "connected", "db": "not configured"}
    server.stop()
    try:
        for gw in gateways:
            r = readiness(gw)
            assert r.status_code == 503, r.text
            body = r.json()
            assert body["redis"] == "unreachable" and body["unavailable"] == ["redis"], body
            assert body["errors"]["redis"] and "127.0.0.1" not in r.text, body  # error class, no address
            assert httpx.get(f"{gw.url}/health/readiness", timeout=10).status_code == 200  # LiteLLM's: still 200
    finally:
        server.start()
    for gw in gateways:
        assert wait_until(lambda gw=gw: readiness(gw).status_code == 200, timeout=15), readiness(gw).text
