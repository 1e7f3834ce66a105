"""Two gateway processes share a real Redis 7 over mTLS: response cache (TTL, invalidation) and
deployment rate limits (the request over the limit gets 429, whichever process it reaches).
TTL expiry and invalidation are not proven yet (see the note in the test).

No database: virtual-key limits need PostgreSQL through Prisma (not available here), so the
limit tested is LiteLLM's per-deployment `rpm` counted in Redis (`usage-based-routing-v2`).
"""

from __future__ import annotations

import httpx
import pytest
import redis as redis_client

from tests.appliance.servers import redis
from tests.helpers import write_config
from tests.observability.conftest import AUTH, chat, start_gateway

pytestmark = pytest.mark.slow


def redis_env(pki, port) -> dict[str, str]:
    """LiteLLM passes every REDIS_* variable to each Redis client it builds (cache and router)."""
    return {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_SSL": "True",
            "REDIS_SSL_CA_CERTS": str(pki.ca), "REDIS_SSL_CERTFILE": str(pki.client_cert),
            "REDIS_SSL_KEYFILE": str(pki.client_key)}


def test_cache_and_rate_limit_hold_across_two_processes(tmp_path, pki, upstream):
    with redis(pki.dir, "loopback") as port:
        with pytest.raises(redis_client.ConnectionError):  # mTLS is enforced: no client cert, no session
            redis_client.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=str(pki.ca),
                               socket_timeout=5).ping()
        data = {
            "model_list": [
                {"model_name": "limited", "litellm_params": {"model": "openai/limited", "api_base": upstream.base_url,
                                                             "api_key": "x", "rpm": 3}},
                {"model_name": "cached", "litellm_params": {"model": "openai/cached", "api_base": upstream.base_url,
                                                            "api_key": "x"}},
            ],
            # num_retries 0: over the limit answers 429 at once instead of waiting for the window
            "router_settings": {"routing_strategy": "usage-based-routing-v2", "num_retries": 0,
                                "redis_host": "127.0.0.1", "redis_port": port},
            "litellm_settings": {"callbacks": ["prometheus"], "cache": True,
                                 "cache_params": {"type": "redis", "ttl": 3,
                                                  "supported_call_types": ["acompletion", "completion"]}},
            "general_settings": {"master_key": "sk-test"},
        }
        config = write_config(tmp_path, data)
        env = redis_env(pki, port)
        gateways = [start_gateway(config, tmp_path / f"gw{i}.log", env) for i in (1, 2)]
        try:
            statuses = [chat(gateways[i % 2], f"limited {i}", model="limited").status_code for i in range(4)]
            assert statuses == [200, 200, 200, 429], statuses  # rpm 3 shared by both processes
            r = chat(gateways[0], "limited 5", model="limited")
            assert r.status_code == 429 and "rpm_limit': 3" in r.json()["error"]["message"]

            first = chat(gateways[0], "cache me", model="cached")
            second = chat(gateways[1], "cache me", model="cached")  # the other process: a hit from Redis
            assert second.json()["id"] == first.json()["id"]
            assert second.headers["x-litellm-cache-key"]
            assert [q["model"] for q in upstream.requests()].count("cached") == 1

            # NOT YET PROVEN: expiry and invalidation. With cache_params.ttl: 3 a request 3.5 s later
            # was still a hit, and POST /cache/delete {"keys": [key]} answered 200 but did not stop
            # the next hit (LiteLLM 1.108.7). Open item in docs/high-availability.md.

            metrics = httpx.get(f"{gateways[1].url}/metrics/", headers=AUTH, timeout=10).text
            assert "litellm_cache_hits_metric_total{" in metrics
        finally:
            for gw in gateways:
                gw.stop()
