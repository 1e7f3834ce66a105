"""Benchmark: every trainable llmrouter-lib strategy on ../shared/data/llmrouter, next to the
baselines, evaluated through the exported gateway artifacts. Runs in the training environment:

    make bench-mlops        # = $(TRAINING_PY) -m bench.mlops_llmrouter [--cost-weights 0,0.3]
    $(TRAINING_PY) -m bench.mlops_llmrouter --tune knn,svm,mlp,mf,graph    # CV-tuned, ~27 min on 2 cores

Writes evaluation.{json,md} and cost_quality.png per cost weight (all test questions, and the 381
not also in train.json) under $GATEWAY_MLOPS_BENCH_OUT (default /var/cache/gateway-build/mlops-bench).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from gateway.mlops import parity
from gateway.mlops.dataset import ScoreWeights, write_training_dir
from gateway.mlops.evaluate import evaluate, write_report
from gateway.mlops.public_data import llmrouter_split
from gateway.mlops.train import TRAINABLE, train_all
from gateway.mlops.tune import GRIDS
from gateway.routing.llm_data import parse_size

OUT = Path(os.environ.get("GATEWAY_MLOPS_BENCH_OUT", "/var/cache/gateway-build/mlops-bench"))


def tuned_dir(encoder: str) -> Path:
    """Where `--tune` writes: OUT/tuned for the static encoder (as before), OUT/<encoder>-tuned otherwise."""
    return OUT / ("tuned" if encoder == "static" else f"{encoder}-tuned")


def cross_validate(strategies: list[str], train, llm, encoder: str) -> dict:
    """Per strategy: the CV choice, every trial, and the run time (gateway.mlops.tune)."""
    from gateway.mlops.embed import embed_texts
    from gateway.mlops.tune import cv_knn, cv_library

    vectors = embed_texts(train.queries, encoder=encoder)
    out = {}
    for strategy in strategies:
        started = time.perf_counter()
        if strategy == "knn":
            best, trials, single_cost = cv_knn(train, vectors)
        else:
            best, trials, single_cost = cv_library(strategy, train, vectors, llm, OUT / "tuned" / "cv" / strategy,
                                                   encoder=encoder)
        out[strategy] = {"choice": asdict(best), "trials": [asdict(t) for t in trials],
                         "best_single_cost": single_cost, "cv_seconds": round(time.perf_counter() - started, 1)}
        print(f"{strategy}: chose {best} in {out[strategy]['cv_seconds']} s", flush=True)
    return out


def tuned(strategies: list[str], train, test, llm, sizes, unseen, encoder: str) -> None:
    """CV on the train split, then each chosen setting trained on all of it and reported on test;
    `index.json` says where each strategy's artifact went (bench.encoder_quality --tuned reads it)."""
    import numpy as np

    cv = cross_validate(strategies, train, llm, encoder)
    run = tuned_dir(encoder)
    index = {}
    policies, parity_rate = {}, {}
    for weight in sorted({c["choice"]["cost_weight"] for c in cv.values()}):
        group = [s for s in strategies if cv[s]["choice"]["cost_weight"] == weight]
        data = write_training_dir(train, ScoreWeights(cost=weight, prior=0.01), run / f"cost-{weight:g}" / "data",
                                  llm, test.queries)
        out = run / f"cost-{weight:g}" / "artifacts"
        report = train_all(data, out, group, {s: cv[s]["choice"]["params"] for s in group}, "bench-tuned",
                           encoder=encoder)
        vectors = np.load(out / "embeddings_heldout.npy")
        for strategy in group:
            entry = report["strategies"][strategy]
            chosen = parity.route_all(parity.load_strategy(Path(entry["artifact"])), [""] * len(vectors), vectors)
            agree = sum(a == b for a, b in zip(chosen, parity.reference_choices(entry), strict=True))
            parity_rate[strategy] = agree / len(chosen)
            index[strategy] = str(out)
            setting = ", ".join(f"{k}={v}" for k, v in cv[strategy]["choice"]["params"].items())
            policies[f"llmrouter-{strategy} ({setting}, cost weight {weight:g}: CV)"] = chosen
    (run / "index.json").write_text(json.dumps(index, indent=1))
    extra = {"cv": cv, "parity": parity_rate, "encoder": encoder}
    reference = train.best_single()
    write_report(evaluate(test, policies, sizes, reference=reference), run / "all-500",
                 "llmrouter test (500), CV-tuned", extra)
    write_report(evaluate(test.subset(unseen), {k: [v[i] for i in unseen] for k, v in policies.items()}, sizes,
                          reference=reference),
                 run / "unseen-381", f"llmrouter test, {len(unseen)} unseen questions, CV-tuned", extra)
    print(json.dumps({s: {k: v for k, v in c.items() if k != "trials"} for s, c in cv.items()}, indent=1))
    print(json.dumps(parity_rate))
    print((run / "all-500" / "evaluation.md").read_text())
    print((run / "unseen-381" / "evaluation.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cost-weights", default="0")
    parser.add_argument("--strategies", default=",".join(TRAINABLE))
    parser.add_argument("--encoder", choices=("static", "minilm"), default="static",
                        help="query encoder to train on (results under OUT/<encoder>-cost-<w>/ for minilm)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the library's training (torch, numpy)")
    parser.add_argument("--prior", type=float, default=0.01, help="tie-break weight (gateway.mlops.dataset)")
    parser.add_argument("--tune", nargs="?", const=",".join(GRIDS), metavar="STRATEGIES",
                        help=f"comma-separated (default: every tunable one, {','.join(GRIDS)}): choose each one's main "
                        "hyperparameter and the cost weight by 5-fold CV on the train split (gateway.mlops.tune), "
                        "then train those settings on all of it and report them on test")
    args = parser.parse_args()
    train, llm = llmrouter_split("train")
    test, _ = llmrouter_split("test")
    sizes = {m: parse_size(info["size"]) for m, info in llm.items()}
    seen = set(train.queries)
    unseen = [i for i, q in enumerate(test.queries) if q not in seen]
    if args.tune:
        tuned(args.tune.split(","), train, test, llm, sizes, unseen, args.encoder)
        return
    for weight in [float(w) for w in args.cost_weights.split(",")]:
        run = OUT / (f"cost-{weight:g}" if args.encoder == "static" else f"{args.encoder}-cost-{weight:g}")
        data = write_training_dir(train, ScoreWeights(cost=weight, prior=args.prior), run / "data", llm,
                                  test.queries)
        started = time.perf_counter()
        report = train_all(data, run / "artifacts", args.strategies.split(","), {}, f"bench-cost-{weight:g}",
                           seed=args.seed, encoder=args.encoder)
        total = time.perf_counter() - started
        policies, agreement = {}, {}
        for name, entry in report["strategies"].items():
            strategy = parity.load_strategy(Path(entry["artifact"]))
            import numpy as np

            vectors = np.load(run / "artifacts" / "embeddings_heldout.npy")
            chosen = parity.route_all(strategy, [""] * len(vectors), vectors)
            agree = sum(a == b for a, b in zip(chosen, parity.reference_choices(entry), strict=True))
            agreement[name] = {"agree": agree, "total": len(chosen), "train_seconds": entry["train_seconds"]}
            policies[f"llmrouter-{name}"] = chosen
        extra = {"cost_weight": weight, "prior_weight": args.prior, "encoder": args.encoder, "training": agreement,
                 "train_and_route_seconds": round(total, 1),
                 "cost_model": "list prices; prompt tokens = 1.3 x words, 200 completion tokens"}
        results = evaluate(test, policies, sizes, reference=train.best_single())
        write_report(results, run / "all-500", f"llmrouter test (500), cost weight {weight:g}", extra)
        sub = test.subset(unseen)
        results_unseen = evaluate(sub, {k: [v[i] for i in unseen] for k, v in policies.items()}, sizes,
                                  reference=train.best_single())
        write_report(results_unseen, run / "unseen-381", f"llmrouter test, {len(unseen)} questions not in train, "
                     f"cost weight {weight:g}", extra)
        print(json.dumps(extra, indent=1))
        print((run / "all-500" / "evaluation.md").read_text())
        print((run / "unseen-381" / "evaluation.md").read_text())


if __name__ == "__main__":
    main()
