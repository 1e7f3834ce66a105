"""A 10 MB prompt through the gateway next to a normal one, in the same run: routing decision time and
end-to-end latency.

    flock /tmp/gateway-heavy.lock .venv/bin/python -m bench.oversized_prompt [--rounds 10] [--mb 10]

One `gateway serve` (llmrouter-knn on the demo artifact, the default static encoder, deployments
answering with `mock_response`, so the time is the gateway's and LiteLLM's, not an upstream's). Rounds
alternate: a normal prompt, then the oversized one, so both see the same machine. The decision time is
the gateway's own `decision_ms` (the "routing decision" log line of that request: embedding and
selection, after the prompt was cut to the encoder's limit); the latency is the client's, request sent
to answer read. The oversized body stays under the gateway's default cap (10 MiB,
general_settings.max_request_size_mb): a body over it gets a 413 before any routing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.stats import markdown_table, percentiles

ROOT = Path(__file__).resolve().parents[1]
NORMAL = "Write a Python function to merge two sorted lists."
KEY = "sk-bench"


def _gateway(workdir: Path):
    sys.path.insert(0, str(ROOT))
    from gateway.routing.demo import build_demo_artifact
    from tests.helpers import knn_config, write_config
    from tests.integration.gateway_process import GatewayProcess

    config = knn_config(build_demo_artifact(workdir / "knn.tar"))
    config["general_settings"]["master_key"] = KEY
    gateway = GatewayProcess(write_config(workdir, config), workdir / "gateway.log")
    gateway.wait_ready()
    return gateway


def _decisions(log: str) -> list[float]:
    """decision_ms of every "routing decision {...}" line, in order."""
    out = []
    for line in log.splitlines():
        _, found, payload = line.partition("routing decision ")
        if found and payload.startswith("{"):
            out.append(float(json.loads(payload)["decision_ms"]))
    return out


def _one(client: httpx.Client, gateway, prompt: str) -> tuple[float, float, int]:
    """(latency ms, decision ms, body bytes) of one chat request."""
    seen = len(_decisions(gateway.log()))
    body = json.dumps({"model": "auto", "messages": [{"role": "user", "content": prompt}]}).encode()
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", content=body)
    latency = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    deadline = time.monotonic() + 10
    while len(decisions := _decisions(gateway.log())) <= seen:
        if time.monotonic() > deadline:
            raise RuntimeError("no routing decision logged for the request")
        time.sleep(0.05)
    return latency, decisions[seen], len(body)


def run(rounds: int, megabytes: float) -> str:
    big = ("The quick brown fox jumps over the lazy dog. " * (int(megabytes * 1_000_000) // 45 + 1))
    big = big[: int(megabytes * 1_000_000)]
    samples: dict[str, dict[str, list[float]]] = {"normal": {"lat": [], "dec": []}, "oversized": {"lat": [], "dec": []}}
    sizes = {}
    with tempfile.TemporaryDirectory(prefix="bench-oversized-") as tmp:
        gateway = _gateway(Path(tmp))
        try:
            with httpx.Client(base_url=gateway.url, timeout=120, headers={
                    "Authorization": f"Bearer {KEY}", "content-type": "application/json"}) as client:
                _one(client, gateway, NORMAL)  # warm-up: first request loads the encoder
                for _ in range(rounds):
                    for name, prompt in (("normal", NORMAL), ("oversized", big)):
                        latency, decision, size = _one(client, gateway, prompt)
                        samples[name]["lat"].append(latency)
                        samples[name]["dec"].append(decision)
                        sizes[name] = size
        finally:
            gateway.stop()
    rows = []
    for name in ("normal", "oversized"):
        lat, dec = percentiles(samples[name]["lat"]), percentiles(samples[name]["dec"])
        rows.append([name, f"{sizes[name]:,}", lat["n"], f"{dec['p50']:.2f}", f"{dec['p99']:.2f}",
                     f"{lat['p50']:.0f}", f"{lat['p99']:.0f}"])
    return markdown_table(["prompt", "body bytes", "requests", "decision p50 ms", "decision p99 ms",
                           "latency p50 ms", "latency p99 ms"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="pairs of requests (default: 10)")
    parser.add_argument("--mb", type=float, default=10, help="oversized prompt, in millions of characters")
    args = parser.parse_args(argv)
    print(run(args.rounds, args.mb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
