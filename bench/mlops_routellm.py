"""Benchmark: binary strong/weak routing on RouteLLM's evaluation data (../shared/data/routellm),
GPT-4 vs Mixtral-8x7B on GSM8K and MMLU (decontaminated). Runs in the training environment:

    make bench-mlops      # also runs this: $(TRAINING_PY) -m bench.mlops_routellm

RouteLLM's routers were trained on other data (Chatbot Arena preferences); these files are
evaluation sets only, so here the router is trained and evaluated by 5-fold cross-validation
within each benchmark (each query is scored by a router that never saw it). The router is
llmrouter-lib's HybridLLMRouter (an MLPRegressor on the query embedding predicting "the weak
model is good enough"), trained by the library, exported to the gateway artifact, and scored by
the gateway's llmrouter-hybrid strategy; sweeping its `threshold` (the runtime knob) traces
quality against the share of calls sent to GPT-4. Reported: the curve, APGR (mean performance
gap recovered over the curve) and CPT(50%)/CPT(80%) (GPT-4 call share needed to recover 50%/80%
of the GPT-4 minus Mixtral gap), next to random routing (APGR 0.5 by construction).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from gateway.mlops import parity
from gateway.mlops.dataset import ScoreWeights, write_training_dir
from gateway.mlops.public_data import STRONG, WEAK, routellm_benchmark
from gateway.mlops.train import train_all

OUT = Path(os.environ.get("GATEWAY_MLOPS_BENCH_OUT", "/var/cache/gateway-build/mlops-bench")) / "routellm"
LLM = {WEAK: {"size": "47B"}, STRONG: {"size": "1760B"}}  # only the order matters (small vs large)


def curve(score: np.ndarray, quality: np.ndarray, points: int = 101) -> list[tuple[float, float]]:
    """(share of strong calls, mean quality) as the share sweeps 0..1: the least confident queries
    (lowest 'weak is good enough' score) go to the strong model first."""
    order = np.argsort(score, kind="stable")
    n = len(score)
    out = []
    for share in np.linspace(0, 1, points):
        strong = np.zeros(n, dtype=bool)
        strong[order[: int(round(share * n))]] = True
        out.append((float(strong.mean()), float(np.where(strong, quality[:, 1], quality[:, 0]).mean())))
    return out


def summarise(points, weak: float, strong: float) -> dict:
    shares = np.array([p[0] for p in points])
    pgr = (np.array([p[1] for p in points]) - weak) / (strong - weak)
    cpt = {f"CPT({int(x * 100)}%)": float(shares[np.argmax(pgr >= x)]) if np.any(pgr >= x) else None
           for x in (0.5, 0.8)}
    return {"APGR": float(np.trapezoid(pgr, shares)), **cpt}


def run(name: str, folds: int) -> dict:
    data = routellm_benchmark(name)
    n = len(data)
    rng = np.random.default_rng(0)
    fold_of = rng.permutation(n) % folds
    score = np.zeros(n)
    started = time.perf_counter()
    for k in range(folds):
        test_rows = np.flatnonzero(fold_of == k)
        train_rows = np.flatnonzero(fold_of != k)
        work = OUT / name / f"fold{k}"
        d = write_training_dir(data.subset(train_rows), ScoreWeights(), work / "data", LLM,
                               [data.queries[i] for i in test_rows])
        report = train_all(d, work / "artifacts", ["hybrid"], {}, f"routellm-{name}-{k}")
        strategy = parity.load_strategy(Path(report["strategies"]["hybrid"]["artifact"]))
        vectors = np.load(work / "artifacts" / "embeddings_heldout.npy")
        score[test_rows] = [strategy.score(v) for v in vectors]
        lib = report["strategies"]["hybrid"]["library_choices"]
        gw = parity.route_all(strategy, [""] * len(vectors), vectors)
        assert sum(a == b for a, b in zip(lib, gw, strict=True)) >= 0.99 * len(gw)
    q = data.quality
    weak, strong = float(q[:, 0].mean()), float(q[:, 1].mean())
    points = curve(score, q)
    random_points = curve(rng.random(n), q)
    result = {"benchmark": name, "n": n, "mixtral": weak, "gpt4": strong,
              "oracle": float(q.max(axis=1).mean()), "oracle_gpt4_share": float(((q[:, 1] > q[:, 0])).mean()),
              "router": summarise(points, weak, strong), "random": summarise(random_points, weak, strong),
              "curve": {f"{s:.2f}": round(v, 4) for s, v in points[::10]},
              "seconds": round(time.perf_counter() - started, 1)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--benchmarks", default="gsm8k,mmlu")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.benchmarks.split(","):
        result = run(name, args.folds)
        (OUT / f"{name}.json").write_text(json.dumps(result, indent=1))
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
