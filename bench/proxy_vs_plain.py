"""The gateway (llmrouter-knn) vs. the plain LiteLLM proxy, same fake upstream, side by side.

    .venv/bin/python -m bench.proxy_vs_plain [--requests 400] [--concurrency 8] [--rounds 3]

Both servers run at once on loopback, against one fake upstream; rounds alternate between them
so that whatever else the machine does affects both alike. Reported: req/s and p50/p99 latency
per server, and the gateway/plain ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

from bench.stats import markdown_table, percentiles
from gateway.proxy.offline import apply_offline_defaults
from tests.ports import free_port  # below the ephemeral range: see tests/ports.py

ROOT = Path(__file__).resolve().parents[1]
QUERIES = [
    "Write a Python function to merge two sorted lists.",
    "Hi! What's the capital city of Canada?",
    "Prove that the sum of two odd numbers is always even, step by step.",
    "Write a SQL query that returns the ten most recent orders per customer.",
    "Say thank you in Portuguese.",
    "Why does the harmonic series diverge? Explain carefully.",
]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url}: not ready")


def configs(workdir: Path, upstream: str, artifact: Path, minilm_artifact: Path) -> tuple[Path, ...]:
    models = [{"model_name": "auto", "litellm_params": {"model": f"openai/{m}", "api_key": "x", "api_base": upstream}}
              for m in ("demo-small", "demo-coder", "demo-large")]
    common = {"model_list": models, "general_settings": {"master_key": "sk-bench"}}
    plain = {**common, "router_settings": {"routing_strategy": "simple-shuffle"}}
    llm_data = str(ROOT / "examples/demo/llm_data.json")
    gateway = {**common, "router_settings": {"routing_strategy": "llmrouter-knn", "routing_strategy_args": {
        "model_path": str(artifact), "llm_data_path": llm_data}}}
    # the same router trained on MiniLM itself (the encoder before the static table), for the ratio
    minilm = {**common, "router_settings": {"routing_strategy": "llmrouter-knn", "routing_strategy_args": {
        "model_path": str(minilm_artifact), "llm_data_path": llm_data}}}
    # the adapter's own cost, without the embedding: a strategy that reads only llm_data
    smallest = {**common, "router_settings": {"routing_strategy": "llmrouter-smallest",
                                              "routing_strategy_args": {"llm_data_path": llm_data}}}
    paths = workdir / "plain.yaml", workdir / "gateway.yaml", workdir / "smallest.yaml", workdir / "minilm.yaml"
    for path, data in zip(paths, (plain, gateway, smallest, minilm), strict=True):
        path.write_text(yaml.safe_dump(data))
    return paths


async def round_of(url: str, requests: int, concurrency: int) -> tuple[float, list[float], int]:
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    headers = {"Authorization": "Bearer sk-bench"}
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                # a unique text per request: nothing can be served from a cache
                text = f"{QUERIES[i % len(QUERIES)]} (request {i})"
                body = {"model": "auto", "messages": [{"role": "user", "content": text}]}
                started = time.perf_counter()
                r = await client.post(f"{url}/v1/chat/completions", json=body, headers=headers)
                latencies.append((time.perf_counter() - started) * 1000)
                errors += r.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    apply_offline_defaults()
    env = {**os.environ}
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        from gateway.routing import artifact as fmt
        from gateway.routing.demo import build_demo_artifact, build_demo_files
        from gateway.routing.embedding import MiniLMEmbedder

        artifact = build_demo_artifact(workdir / "knn.tar")
        minilm_artifact = fmt.write_tar(build_demo_files(embedder=MiniLMEmbedder()), workdir / "knn-minilm.tar")
        up_port, plain_port, gw_port, small_port, minilm_port = (free_port() for _ in range(5))
        plain_cfg, gw_cfg, small_cfg, minilm_cfg = configs(workdir, f"http://127.0.0.1:{up_port}/v1", artifact,
                                                           minilm_artifact)
        bindir = Path(sys.executable).parent
        try:
            procs.append(subprocess.Popen([sys.executable, "-m", "tests.fake_upstream", "--port", str(up_port)],
                                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            procs.append(subprocess.Popen([str(bindir / "litellm"), "--config", str(plain_cfg), "--port",
                                           str(plain_port)], cwd=workdir, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            procs.append(subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(gw_cfg),
                                           "--port", str(gw_port)], cwd=ROOT, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            for cfg, port in ((small_cfg, small_port), (minilm_cfg, minilm_port)):
                procs.append(subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(cfg),
                                               "--port", str(port)], cwd=ROOT, env=env,
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            targets = {"plain LiteLLM proxy": f"http://127.0.0.1:{plain_port}",
                       "gateway (llmrouter-knn, static encoder)": f"http://127.0.0.1:{gw_port}",
                       "gateway (llmrouter-smallest, no embedding)": f"http://127.0.0.1:{small_port}",
                       "gateway (llmrouter-knn, MiniLM encoder)": f"http://127.0.0.1:{minilm_port}"}
            wait_ready(f"http://127.0.0.1:{up_port}/_control/health", procs[0])
            for url, proc in zip(targets.values(), procs[1:], strict=True):
                wait_ready(f"{url}/health/liveliness", proc)
                asyncio.run(round_of(url, 50, args.concurrency))  # warm-up
            results = {name: {"seconds": 0.0, "latencies": [], "errors": 0} for name in targets}
            for _ in range(args.rounds):
                for name, url in targets.items():
                    seconds, latencies, errors = asyncio.run(round_of(url, args.requests, args.concurrency))
                    results[name]["seconds"] += seconds
                    results[name]["latencies"] += latencies
                    results[name]["errors"] += errors
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=30)
    rows, rate = [], {}
    for name, r in results.items():
        p = percentiles(r["latencies"])
        rate[name] = len(r["latencies"]) / r["seconds"]
        rows.append([name, f"{rate[name]:.1f}", f"{p['p50']:.1f}", f"{p['p99']:.1f}", r["errors"], p["n"]])
    plain = next(iter(rate.values()))
    for row, name in zip(rows, rate, strict=True):
        row.append(f"{rate[name] / plain:.2f}")
    print(markdown_table(["server", "req/s", "p50 ms", "p99 ms", "errors", "requests", "req/s vs plain"], rows))
    print(f"\nconcurrency {args.concurrency}, {args.rounds} alternating rounds of {args.requests} requests each")


if __name__ == "__main__":
    main()
