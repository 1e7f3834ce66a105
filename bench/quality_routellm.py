"""The quality routers on RouteLLM's evaluation data: GPT-4 vs Mixtral on GSM8K, MMLU and MT-Bench.

    .venv/bin/python -m bench.quality_routellm [--benchmarks gsm8k,mmlu,mt_bench] [--kinds knn,logistic,mlp]
                                               [--seeds N]

The same protocol as `bench.mlops_routellm` (RouteLLM's own metrics): 5-fold cross-validation within
each benchmark, each query scored by a router that never saw it; the score is the router's predicted
quality of Mixtral minus that of GPT-4 ("the weak model is good enough"), and sweeping a threshold
over it traces quality against the share of GPT-4 calls. APGR (mean performance gap recovered)
and CPT(50%) next to random routing; `--seeds` repeats the CV over several fold assignments.
Gateway venv, numpy only (the quality routers train without llmrouter-lib).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.mlops_routellm import SCALE, curve, summarise
from bench.stats import markdown_table
from gateway.mlops.embed import embed_texts
from gateway.mlops.public_data import routellm_benchmark
from gateway.mlops.quality_router import STRATEGIES, train_quality_router
from gateway.routing.strategies.quality_dial import unit_rows


def weak_is_enough(kind: str, data, vectors: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Per query, predicted quality(weak) - quality(strong) by a router trained on the other folds."""
    fold_of = np.random.default_rng(seed).permutation(len(data)) % folds
    score = np.zeros(len(data))
    for k in range(folds):
        held = fold_of == k
        trained = train_quality_router(data.subset(np.flatnonzero(~held)), vectors[~held], kind=kind, seed=seed)
        from gateway.mlops.quality_router import _predict  # the trainer's own prediction (no dial needed)

        predicted = _predict(kind, trained.arrays, trained.params, unit_rows(vectors[held]))
        score[held] = predicted[:, 0] - predicted[:, 1]
    return score


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--benchmarks", default="gsm8k,mmlu,mt_bench")
    parser.add_argument("--kinds", default=",".join(STRATEGIES))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--encoder", choices=("static", "minilm"), default="static")
    args = parser.parse_args()
    rows = []
    for name in args.benchmarks.split(","):
        data = routellm_benchmark(name)
        vectors = embed_texts(data.queries, encoder=args.encoder, progress=False)
        q = data.quality * SCALE.get(name, 1.0)
        weak, strong = float(q[:, 0].mean()), float(q[:, 1].mean())
        rng = np.random.default_rng(12345)
        random = [summarise(curve(rng.random(len(q)), q), weak, strong)["APGR"] for _ in range(200)]
        for kind in args.kinds.split(","):
            started = time.perf_counter()
            runs = [summarise(curve(weak_is_enough(kind, data, vectors, args.folds, seed), q), weak, strong)
                    for seed in range(args.seeds)]
            apgr = np.array([r["APGR"] for r in runs])
            cpt = np.array([np.nan if r["CPT(50%)"] is None else r["CPT(50%)"] for r in runs])
            rows.append([name, len(data), STRATEGIES[kind].name,
                         f"{apgr.mean():.3f}" + (f" ± {apgr.std(ddof=1):.3f}" if len(runs) > 1 else ""),
                         f"{np.nanmean(cpt):.2f}", f"{np.mean(random):.3f} ± {np.std(random, ddof=1):.3f}",
                         f"{time.perf_counter() - started:.0f} s"])
            print(" | ".join(map(str, rows[-1])), flush=True)
    print()
    print(markdown_table(["benchmark", "queries", "router", f"APGR ({args.seeds} fold assignment(s))",
                          "CPT(50%) (GPT-4 share)", "random APGR (200 draws)", "time"], rows))


if __name__ == "__main__":
    main()
