"""`gateway.proxy.readiness.check` with stand-in probes (no LiteLLM, no servers).

The real probes against a real Redis are in test_redis_shared_state.py.
"""

from __future__ import annotations

import asyncio

from gateway.proxy.readiness import check


async def pong() -> bool:
    return True


async def refused() -> bool:
    raise ConnectionRefusedError("Error 111 connecting to 10.0.0.5:6379")


async def hangs() -> bool:
    await asyncio.sleep(30)
    return True


async def test_every_dependency_answering_is_ready():
    assert await check({"redis": [pong, pong], "db": []}) == (
        200, {"status": "ready", "redis": "connected", "db": "not configured"})


async def test_one_client_down_makes_the_dependency_unavailable_without_naming_hosts():
    status, body = await check({"redis": [pong, refused], "db": [pong]})
    assert status == 503
    assert body == {"status": "unavailable", "redis": "unreachable", "db": "connected",
                    "errors": {"redis": "ConnectionRefusedError"}, "unavailable": ["redis"]}


async def test_a_hung_probe_is_cut_at_the_timeout():
    started = asyncio.get_running_loop().time()
    status, body = await check({"redis": [hangs], "db": [refused]}, timeout=0.2)
    assert asyncio.get_running_loop().time() - started < 2  # probes run concurrently
    assert status == 503 and body["unavailable"] == ["db", "redis"]
    assert body["errors"] == {"redis": "TimeoutError", "db": "ConnectionRefusedError"}


async def test_a_draining_process_is_not_ready():
    status, body = await check({"redis": [pong]}, draining=True)
    assert status == 503 and body["unavailable"] == ["shutting down"] and body["redis"] == "connected"
