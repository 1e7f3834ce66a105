"""Decision time per strategy, p50/p99, with and without the query embedding, for both encoders.

    .venv/bin/python -m bench.decision_time [--rounds 300] [--artifacts A.tar,B.tar]

"Without" times `select()` on a precomputed embedding; "with" times embed + select, as a
request pays it, once with the static encoder (static-all-MiniLM-L6-v2, the default) and once with
MiniLM itself, in the same run. LLM-assisted strategies are left out: their time is the router
model's. The baseline is the cheapest possible decision (llmrouter-smallest), timed in the same run.
`--artifacts` also times trained artifacts of real size (e.g. the quality routers `bench.quality_router`
trained on the 5,608 llmrouter questions), each on the static encoder it carries.
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
from gateway.routing.static_embedding import distilled_encoder  # noqa: E402

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
            request = RoutingRequest(query=query, vector=vectors[query])
        await strategy.select(request, available)
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def main() -> None:
    import tempfile
    from pathlib import Path

    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--artifacts", default="", help="comma-separated trained artifacts to time as well")
    args = parser.parse_args()
    encoders = {"static": distilled_encoder(), "MiniLM": MiniLMEmbedder().load()}
    rows: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for embedder in encoders.values():
            for name, strategy in strategies(embedder, Path(tmp)):
                bare = asyncio.run(time_select(strategy, embedder, args.rounds, False))
                full = asyncio.run(time_select(strategy, embedder, args.rounds, True)) \
                    if strategy.needs_embedding else bare
                rows.setdefault(name, [name]).extend(
                    [f"{bare['p50'] * 1000:.0f} / {bare['p99'] * 1000:.0f}", f"{full['p50']:.3f} / {full['p99']:.3f}"])
    print(markdown_table(["strategy", "static: select p50 / p99 (µs)", "static: with embedding p50 / p99 (ms)",
                          "MiniLM: select p50 / p99 (µs)", "MiniLM: with embedding p50 / p99 (ms)"],
                         list(rows.values())))
    trained = []
    for path in filter(None, args.artifacts.split(",")):
        artifact = load_artifact(path)
        strategy = resolve(artifact.strategy).load(artifact, StrategySettings(args={}))
        bare = asyncio.run(time_select(strategy, encoders["static"], args.rounds, False))
        full = asyncio.run(time_select(strategy, encoders["static"], args.rounds, True))
        rows_trained = artifact.metrics.get("train_rows", "?")
        trained.append([f"{artifact.strategy} ({Path(path).name}, {rows_trained} rows)",
                        f"{bare['p50'] * 1000:.0f} / {bare['p99'] * 1000:.0f}",
                        f"{full['p50']:.3f} / {full['p99']:.3f}"])
    if trained:
        print("\n" + markdown_table(["trained artifact", "select p50 / p99 (µs)", "with embedding p50 / p99 (ms)"],
                                    trained))
    for label, embedder in encoders.items():
        embed_only = []
        for i in range(args.rounds):
            started = time.perf_counter()
            embedder.embed(QUERIES[i % len(QUERIES)] + f" #{i}")
            embed_only.append((time.perf_counter() - started) * 1000)
        e = percentiles(embed_only)
        print(f"\n{label} embedding alone ({args.rounds} queries of 10-20 tokens): "
              f"p50 {e['p50']:.3f} ms, p99 {e['p99']:.3f} ms", end="")
    huge = QUERIES[0] + " " + "x" * 10_000_000
    for label, embedder in encoders.items():
        started = time.perf_counter()
        embedder.embed(huge)
        print(f"\n{label}: one 10 MB prompt: {(time.perf_counter() - started) * 1000:.2f} ms", end="")
    print()


if __name__ == "__main__":
    main()
