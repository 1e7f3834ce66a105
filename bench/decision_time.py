"""Decision time per strategy, p50/p99, with and without the query embedding.

    .venv/bin/python -m bench.decision_time [--rounds 300]

"Without" times `select()` on a precomputed embedding; "with" times embed + select, as a
request pays it. LLM-assisted strategies are left out: their time is the router model's.
The baseline for the ratio is the cheapest possible decision (a fixed choice), timed in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from gateway.proxy.offline import apply_offline_defaults

apply_offline_defaults()  # one BLAS thread, as `gateway serve` runs: before numpy is imported

from bench.stats import markdown_table, percentiles  # noqa: E402
from gateway.routing import artifact as fmt  # noqa: E402
from gateway.routing.artifact import load_artifact  # noqa: E402
from gateway.routing.base import RoutingRequest  # noqa: E402
from gateway.routing.embedding import MiniLMEmbedder  # noqa: E402
from gateway.routing.registry import StrategySettings, resolve  # noqa: E402

QUERIES = [
    "Write a Python function to merge two sorted lists.",
    "Hi! What's the capital city of Canada?",
    "Prove that the sum of two odd numbers is always even, step by step.",
    "Translate 'good morning' into Japanese and explain the politeness level.",
    "Explain the difference between a mutex and a semaphore with an example in C.",
]


def strategies(embedder, workdir):
    from tests.routing import artifact_factory

    llm_data = dict(artifact_factory.LLM_DATA)
    built = artifact_factory.all_artifacts(embedder)
    names = sorted(built) + ["llmrouter-smallest", "llmrouter-largest"]
    for name in names:
        artifact = load_artifact(fmt.write_tar(built[name], workdir / f"{name}.tar")) if name in built else None
        yield name, resolve(name).load(artifact, StrategySettings(llm_data=llm_data, args={}))


async def time_select(strategy, embedder, rounds, with_embedding):
    available = list(strategy.candidates)
    vectors = {q: embedder.embed(q) for q in QUERIES}
    samples = []
    for i in range(rounds):
        query = QUERIES[i % len(QUERIES)]
        started = time.perf_counter()
        if with_embedding:
            request = RoutingRequest(query=query, embed=embedder.embed)
        else:
            request = RoutingRequest(query=query, _embedding=vectors[query])
        await strategy.select(request, available)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def main() -> None:
    import tempfile
    from pathlib import Path

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    embedder = MiniLMEmbedder().load()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, strategy in strategies(embedder, Path(tmp)):
            bare = asyncio.run(time_select(strategy, embedder, args.rounds, False))
            full = asyncio.run(time_select(strategy, embedder, args.rounds, True)) if strategy.needs_embedding \
                else bare
            rows.append([name, f"{bare['p50'] * 1000:.0f}", f"{bare['p99'] * 1000:.0f}",
                         f"{full['p50']:.2f}", f"{full['p99']:.2f}"])
    embed_only = []
    for i in range(args.rounds):
        started = time.perf_counter()
        embedder.embed(QUERIES[i % len(QUERIES)] + f" #{i}")
        embed_only.append((time.perf_counter() - started) * 1000)
    e = percentiles(embed_only)
    print(markdown_table(["strategy", "select p50 (µs)", "select p99 (µs)", "with embedding p50 (ms)",
                          "with embedding p99 (ms)"], rows))
    print(f"\nembedding alone ({args.rounds} queries of 10-20 tokens): p50 {e['p50']:.2f} ms, p99 {e['p99']:.2f} ms")


if __name__ == "__main__":
    main()
