"""HTTP/2 vs HTTP/1.1 at the load balancer and at the gateway's own TLS front, in the same run, same
gateway behind them.

    .venv/bin/python -m bench.http2 [--requests 300] [--concurrency 8] [--rounds 3]

One `gateway serve` over HTTPS (fake upstream), behind its TLS front and the load balancer, both from
the generated HAProxy configuration (`alpn h2,http/1.1` on both); HAProxy speaks HTTP/1.1 to the
gateway either way. The front is reached with the balancer's client certificate, as the balancer does.
Rounds alternate between an HTTP/1.1 client (a pool of up to `concurrency` keep-alive connections) and
an HTTP/2 client (one connection, streams multiplexed), at each listener, so whatever else the machine
does affects all alike. Reported per listener and protocol: req/s, p50/p99 latency, HAProxy CPU per
request, connections the client opened; and the h2/h1 ratios per listener.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx

from bench.stats import markdown_table, percentiles
from tests.fake_upstream import start_fake_upstream
from tests.ha.haproxy import Site, gateway_tls_args, https_ready
from tests.helpers import write_config
from tests.integration.gateway_process import GatewayProcess
from tests.observability.pki import loopback_pki

AUTH = {"Authorization": "Bearer sk-bench"}
BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello over the wire."}]}


async def load(url: str, tls, http2: bool, requests: int, concurrency: int) -> tuple[list[float], float, int]:
    """Latencies (ms), wall seconds, and connections opened, for `requests` chats at `concurrency`."""
    opened = 0

    async def count(event_name, info):
        nonlocal opened
        if event_name == "connection.connect_tcp.complete":
            opened += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    latencies: list[float] = []
    queue = iter(range(requests))
    async with httpx.AsyncClient(http2=http2, verify=tls, timeout=60, limits=limits) as client:
        async def worker():
            for _ in queue:
                t0 = time.perf_counter()
                r = await client.post(f"{url}/v1/chat/completions", json=BODY, headers=AUTH,
                                      extensions={"trace": count})
                latencies.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200 and r.http_version == ("HTTP/2" if http2 else "HTTP/1.1"), r
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, time.perf_counter() - t0, opened


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    upstream = start_fake_upstream(port=0)
    work = Path(tempfile.mkdtemp(prefix="bench-http2-"))
    pki = loopback_pki(work / "pki")
    config = write_config(work, {
        "model_list": [{"model_name": "bench", "litellm_params": {"model": "openai/bench",
                                                                   "api_base": upstream.base_url, "api_key": "x"}}],
        "general_settings": {"master_key": "sk-bench"}})
    gw = GatewayProcess(config, work / "gw.log", extra_args=gateway_tls_args(pki))
    site = None
    try:
        gw.wait_ready(probe=lambda: https_ready(gw, pki))
        site = Site(pki, [gw.port]).start()
        targets = {"load balancer": (site.url, site.client_tls()),
                   "gateway front": (site.front_urls[0], site.front_tls())}
        for url, tls in targets.values():
            for http2 in (False, True):  # warm every path (first requests are slower: lazy imports, pools)
                asyncio.run(load(url, tls, http2, 20, args.concurrency))
        runs = [(where, name, http2) for where in targets for name, http2 in (("HTTP/1.1", False), ("HTTP/2", True))]
        results: dict[tuple[str, str], dict] = {(w, n): {"lat": [], "wall": 0.0, "cpu": 0.0, "conns": 0}
                                                for w, n, _ in runs}
        for _ in range(args.rounds):
            for where, name, http2 in runs:
                url, tls = targets[where]
                cpu0 = site.haproxy.cpu_seconds()
                lat, wall, conns = asyncio.run(load(url, tls, http2, args.requests, args.concurrency))
                r = results[(where, name)]
                r["cpu"] += site.haproxy.cpu_seconds() - cpu0
                r["lat"] += lat
                r["wall"] += wall
                r["conns"] += conns
    finally:
        if site is not None:
            site.close()
        gw.stop()
        upstream.stop()
    rows, summary = [], {}
    for (where, name), r in results.items():
        p = percentiles(r["lat"])
        rps = len(r["lat"]) / r["wall"]
        cpu_ms = 1000 * r["cpu"] / len(r["lat"])
        summary[(where, name)] = (rps, p["p50"], p["p99"], cpu_ms)
        rows.append([where, name, len(r["lat"]), f"{rps:.1f}", f"{p['p50']:.1f}", f"{p['p99']:.1f}",
                     f"{cpu_ms:.2f}", r["conns"] // args.rounds])
    print(markdown_table(["listener", "client protocol", "requests", "req/s", "p50 ms", "p99 ms",
                          "HAProxy CPU ms/req", "connections per round"], rows))
    print()
    for where in dict.fromkeys(w for w, _ in summary):
        h1, h2 = summary[(where, "HTTP/1.1")], summary[(where, "HTTP/2")]
        print(f"{where} h2/h1: req/s x{h2[0] / h1[0]:.2f}, p50 x{h2[1] / h1[1]:.2f}, p99 x{h2[2] / h1[2]:.2f}, "
              f"HAProxy CPU per request x{h2[3] / h1[3]:.2f} (concurrency {args.concurrency}, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
