"""Benchmark: every trainable llmrouter-lib strategy on ../shared/data/llmrouter, next to the
baselines, evaluated through the exported gateway artifacts. Runs in the training environment:

    make bench-mlops        # = $(TRAINING_PY) -m bench.mlops_llmrouter [--cost-weights 0,0.3]

Writes evaluation.{json,md} and cost_quality.png per cost weight (all test questions, and the 381
not also in train.json) under $GATEWAY_MLOPS_BENCH_OUT (default /var/cache/gateway-build/mlops-bench).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from gateway.mlops import parity
from gateway.mlops.dataset import ScoreWeights, write_training_dir
from gateway.mlops.evaluate import evaluate, write_report
from gateway.mlops.public_data import llmrouter_split
from gateway.mlops.train import TRAINABLE, train_all
from gateway.routing.llm_data import parse_size

OUT = Path(os.environ.get("GATEWAY_MLOPS_BENCH_OUT", "/var/cache/gateway-build/mlops-bench"))


def tuned(train, test, llm, sizes, unseen) -> None:
    import numpy as np

    from gateway.mlops.embed import embed_texts
    from gateway.mlops.tune import cv_knn

    best, trials, single_cost = cv_knn(train, embed_texts(train.queries))
    run = OUT / "tuned"
    data = write_training_dir(train, ScoreWeights(cost=best.cost_weight, prior=0.01), run / "data", llm,
                              test.queries)
    report = train_all(data, run / "artifacts", ["knn"], {"knn": {"n_neighbors": best.k}}, "bench-tuned")
    entry = report["strategies"]["knn"]
    vectors = np.load(run / "artifacts" / "embeddings_heldout.npy")
    chosen = parity.route_all(parity.load_strategy(Path(entry["artifact"])), [""] * len(vectors), vectors)
    name = f"llmrouter-knn (k={best.k}, cost weight {best.cost_weight:g}, chosen by CV)"
    extra = {"cv_choice": best.__dict__, "cv_trials": [t.__dict__ for t in trials],
             "cv_best_single_cost": single_cost,
             "parity": sum(a == b for a, b in zip(chosen, entry["library_choices"], strict=True)) / len(chosen)}
    write_report(evaluate(test, {name: chosen}, sizes), run / "all-500", "llmrouter test (500), tuned knn", extra)
    write_report(evaluate(test.subset(unseen), {name: [chosen[i] for i in unseen]}, sizes), run / "unseen-381",
                 f"llmrouter test, {len(unseen)} unseen questions, tuned knn", extra)
    print(json.dumps({k: v for k, v in extra.items() if k != "cv_trials"}, indent=1))
    print((run / "all-500" / "evaluation.md").read_text())
    print((run / "unseen-381" / "evaluation.md").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cost-weights", default="0")
    parser.add_argument("--strategies", default=",".join(TRAINABLE))
    parser.add_argument("--prior", type=float, default=0.01, help="tie-break weight (gateway.mlops.dataset)")
    parser.add_argument("--tune", action="store_true", help="choose knn's k and the cost weight by 5-fold CV "
                        "on the train split, then train and report that knn")
    args = parser.parse_args()
    train, llm = llmrouter_split("train")
    test, _ = llmrouter_split("test")
    sizes = {m: parse_size(info["size"]) for m, info in llm.items()}
    seen = set(train.queries)
    unseen = [i for i, q in enumerate(test.queries) if q not in seen]
    if args.tune:
        tuned(train, test, llm, sizes, unseen)
        return
    for weight in [float(w) for w in args.cost_weights.split(",")]:
        run = OUT / f"cost-{weight:g}"
        data = write_training_dir(train, ScoreWeights(cost=weight, prior=args.prior), run / "data", llm,
                                  test.queries)
        started = time.perf_counter()
        report = train_all(data, run / "artifacts", args.strategies.split(","), {}, f"bench-cost-{weight:g}")
        total = time.perf_counter() - started
        policies, agreement = {}, {}
        for name, entry in report["strategies"].items():
            strategy = parity.load_strategy(Path(entry["artifact"]))
            import numpy as np

            vectors = np.load(run / "artifacts" / "embeddings_heldout.npy")
            chosen = parity.route_all(strategy, [""] * len(vectors), vectors)
            agree = sum(a == b for a, b in zip(chosen, entry["library_choices"], strict=True))
            agreement[name] = {"agree": agree, "total": len(chosen), "train_seconds": entry["train_seconds"]}
            policies[f"llmrouter-{name}"] = chosen
        extra = {"cost_weight": weight, "prior_weight": args.prior, "training": agreement,
                 "train_and_route_seconds": round(total, 1),
                 "cost_model": "list prices; prompt tokens = 1.3 x words, 200 completion tokens"}
        results = evaluate(test, policies, sizes)
        write_report(results, run / "all-500", f"llmrouter test (500), cost weight {weight:g}", extra)
        sub = test.subset(unseen)
        results_unseen = evaluate(sub, {k: [v[i] for i in unseen] for k, v in policies.items()}, sizes)
        write_report(results_unseen, run / "unseen-381", f"llmrouter test, {len(unseen)} questions not in train, "
                     f"cost weight {weight:g}", extra)
        print(json.dumps(extra, indent=1))
        print((run / "all-500" / "evaluation.md").read_text())
        print((run / "unseen-381" / "evaluation.md").read_text())


if __name__ == "__main__":
    main()
