"""Benchmark: binary strong/weak routing on RouteLLM's evaluation data (../shared/data/routellm),
GPT-4 vs Mixtral-8x7B on GSM8K, MMLU and MT-Bench (decontaminated). Runs in the training environment:

    make bench-mlops      # also runs this: $(TRAINING_PY) -m bench.mlops_routellm
    $(TRAINING_PY) -m bench.mlops_routellm --benchmarks mt_bench --seeds 20

RouteLLM's routers were trained on other data (Chatbot Arena preferences); these files are
evaluation sets only, so here the router is trained and evaluated by 5-fold cross-validation
within each benchmark (each query is scored by a router that never saw it). The router is
llmrouter-lib's HybridLLMRouter (an MLPRegressor on the query embedding predicting "the weak
model is good enough"), trained by the library, exported to the gateway artifact, and scored by
the gateway's llmrouter-hybrid strategy; sweeping its `threshold` (the runtime knob) traces
quality against the share of calls sent to GPT-4. Reported: the curve, APGR (mean performance
gap recovered over the curve) and CPT(50%)/CPT(80%) (GPT-4 call share needed to recover 50%/80%
of the GPT-4 minus Mixtral gap), next to random routing (APGR 0.5 by construction).

MT-Bench (`gateway.mlops.public_data.mt_bench`): one row per question routed on its first turn,
quality = the routed model's mean judge score over both turns, as RouteLLM evaluates it. The
hybrid's label there is the library's deterministic one, "weak is good enough" = Mixtral's score
>= GPT-4's: a tie means the GPT-4 call buys nothing, and on 0/1 scores the same rule is the
GSM8K/MMLU label (35 of the 72 questions: 28 ties, 7 Mixtral better). With 72 rows one fold
assignment is noisy: `--seeds N` repeats the 5-fold CV over N fold assignments and reports the spread.
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
SCALE = {"mt_bench": 10.0}  # quality x SCALE = the benchmark's own unit (judge score 1-10); else accuracy


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


def run(name: str, folds: int, seed: int = 0) -> dict:
    data = routellm_benchmark(name)
    n = len(data)
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(n) % folds
    score = np.zeros(n)
    started = time.perf_counter()
    for k in range(folds):
        test_rows = np.flatnonzero(fold_of == k)
        train_rows = np.flatnonzero(fold_of != k)
        work = OUT / name / (f"fold{k}" if seed == 0 else f"seed{seed}-fold{k}")
        d = write_training_dir(data.subset(train_rows), ScoreWeights(), work / "data", LLM,
                               [data.queries[i] for i in test_rows])
        report = train_all(d, work / "artifacts", ["hybrid"], {}, f"routellm-{name}-{k}")
        strategy = parity.load_strategy(Path(report["strategies"]["hybrid"]["artifact"]))
        vectors = np.load(work / "artifacts" / "embeddings_heldout.npy")
        score[test_rows] = [strategy.score(v) for v in vectors]
        lib = report["strategies"]["hybrid"]["library_choices"]
        gw = parity.route_all(strategy, [""] * len(vectors), vectors)
        assert sum(a == b for a, b in zip(lib, gw, strict=True)) >= 0.99 * len(gw)
    q = data.quality * SCALE.get(name, 1.0)
    weak, strong = float(q[:, 0].mean()), float(q[:, 1].mean())
    points = curve(score, q)
    random_points = curve(rng.random(n), q)
    result = {"benchmark": name, "n": n, "seed": seed, "unit": "judge score" if name in SCALE else "accuracy",
              "mixtral": weak, "gpt4": strong,
              "oracle": float(q.max(axis=1).mean()), "oracle_gpt4_share": float(((q[:, 1] > q[:, 0])).mean()),
              "router": summarise(points, weak, strong), "random": summarise(random_points, weak, strong),
              "curve": {f"{s:.2f}": round(v, 4) for s, v in points[::10]},
              "seconds": round(time.perf_counter() - started, 1)}
    return result


def spread(results: list[dict]) -> dict:
    """Mean, standard deviation, min and max over repeated CV runs, per router/random metric."""
    out = {}
    for policy in ("router", "random"):
        for metric in results[0][policy]:
            values = np.array([r[policy][metric] for r in results], dtype=float)  # None (never reached) -> nan
            out[f"{policy} {metric}"] = {"mean": float(np.nanmean(values)), "sd": float(np.nanstd(values, ddof=1)),
                                         "min": float(np.nanmin(values)), "max": float(np.nanmax(values)),
                                         "reached": int(np.isfinite(values).sum())}
    return out


def random_null(name: str, draws: int = 1000) -> dict:
    """APGR of `draws` random routings of the same queries: how far from 0.5 chance alone goes."""
    q = routellm_benchmark(name).quality * SCALE.get(name, 1.0)
    weak, strong = float(q[:, 0].mean()), float(q[:, 1].mean())
    rng = np.random.default_rng(12345)
    values = np.array([summarise(curve(rng.random(len(q)), q), weak, strong)["APGR"] for _ in range(draws)])
    return {"draws": draws, "mean": float(values.mean()), "sd": float(values.std(ddof=1)),
            "p95": float(np.percentile(values, 95)), "p99": float(np.percentile(values, 99))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--benchmarks", default="gsm8k,mmlu,mt_bench")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=1, help="repeat the CV over this many fold assignments")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in args.benchmarks.split(","):
        results = [run(name, args.folds, seed) for seed in range(args.seeds)]
        report = results[0] if args.seeds == 1 else {"runs": results, "spread": spread(results),
                                                     "random_apgr_null": random_null(name),
                                                     "seconds": round(sum(r["seconds"] for r in results), 1)}
        (OUT / f"{name}.json").write_text(json.dumps(report, indent=1))
        print(json.dumps(results[0], indent=1))
        if args.seeds > 1:
            print(json.dumps({k: report[k] for k in ("spread", "random_apgr_null", "seconds")}, indent=1))


if __name__ == "__main__":
    main()
