"""The quality routers on ../shared/data/llmrouter: trained and calibrated on train.json only, reported on test.

    .venv/bin/python -m bench.quality_router [--encoder static|minilm] [--kinds knn,logistic,mlp]

Per predictor (llmrouter-quality: knn; -quality-logistic; -quality-mlp): the best single model is the
one best on train.json (task-averaged), fixed before the test set is read; every figure is a paired
difference against that policy on the same questions (± standard error), on all 500 test questions
and on the 381 not also in train.json. Rows: dial settings an operator would use, each turned into
lambda by the curve stored in the artifact (cross-validated on train), routed through the gateway's
own strategy class on the test vectors. The artifacts, the training reports and the held-out
cost-quality curves (Markdown + SVG, the dial's point marked) go to
$GATEWAY_MLOPS_BENCH_OUT/quality-<encoder>/.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from bench.stats import markdown_table
from gateway.mlops.curve_report import chosen_index, heldout_curve, write_curve_report
from gateway.mlops.embed import embed_texts, static_encoder
from gateway.mlops.public_data import llmrouter_split
from gateway.mlops.quality_router import STRATEGIES, train_quality_router
from gateway.routing import artifact as fmt
from gateway.routing.registry import StrategySettings

OUT = Path(os.environ.get("GATEWAY_MLOPS_BENCH_OUT", "/var/cache/gateway-build/mlops-bench"))
DIALS = [{}, {"quality_target": 1.0}, {"quality_target": 0.98}, {"max_cost_ratio": 0.8}, {"max_cost_ratio": 0.6},
         {"max_cost_ratio": 0.4}]


def paired(a: np.ndarray, b: np.ndarray) -> str:
    d = a - b
    return f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", choices=("static", "minilm"), default="static")
    parser.add_argument("--kinds", default=",".join(STRATEGIES))
    args = parser.parse_args()
    train, _ = llmrouter_split("train")
    test, _ = llmrouter_split("test")
    out = OUT / f"quality-{args.encoder}"
    out.mkdir(parents=True, exist_ok=True)
    train_vectors = embed_texts(train.queries, encoder=args.encoder, progress=False)
    vectors = embed_texts(test.queries, encoder=args.encoder, progress=False)
    order = [test.models.index(m) for m in train.models]
    quality = np.nan_to_num(test.quality, nan=0.0)[:, order]
    cost = np.nan_to_num(test.cost, nan=0.0)[:, order]
    best_name = train.best_single()
    best = train.models.index(best_name)
    seen = set(train.queries)
    unseen = np.array([i for i, q in enumerate(test.queries) if q not in seen])
    print(f"best single on train.json: {best_name}; on test: all 500 {quality[:, best].mean():.4f}, "
          f"{len(unseen)} unseen {quality[unseen, best].mean():.4f}\n")
    for kind in args.kinds.split(","):
        started = time.perf_counter()
        trained = train_quality_router(train, train_vectors, encoder=static_encoder() if args.encoder == "static"
                                       else None, kind=kind)
        seconds = time.perf_counter() - started
        artifact = fmt.load_artifact(fmt.write_tar(trained.files, out / f"quality-{kind}.tar"))
        (out / f"quality-{kind}-report.json").write_text(json.dumps(trained.report, indent=1))
        cls = STRATEGIES[kind]
        rows = []
        for dial in DIALS:
            strategy = cls.load(artifact, StrategySettings(args=dial))
            decisions = [strategy.select_vector(v, train.models, strategy.recall.lookup(q))  # as served
                         for q, v in zip(test.queries, vectors, strict=True)]
            chosen = np.array([train.models.index(d.model) for d in decisions])
            got, got_cost = quality[np.arange(len(chosen)), chosen], cost[np.arange(len(chosen)), chosen]
            cells = [", ".join(f"{k}={v}" for k, v in dial.items()) or "default (best quality)",
                     f"{strategy.cost_weight:.4f}",
                     f"{strategy.expected['quality_ratio']:.3f} / {strategy.expected['cost_ratio']:.2f}"]
            for idx in (np.arange(len(chosen)), unseen):
                cells += [f"{got[idx].mean():.4f}", paired(got[idx], quality[idx, best]),
                          f"{got_cost[idx].sum() / cost[idx, best].sum():.2f}x"]
            rows.append(cells)
        default = cls.load(artifact, StrategySettings())
        for name, subset in (("all", test), ("unseen", test.subset(unseen))):
            points = heldout_curve(default, subset, vectors if name == "all" else vectors[unseen], best_name)
            write_curve_report(points, chosen_index(default, points), out, f"quality-{kind}-{name}",
                               f"{cls.name} on llmrouter test.json ({name}), {args.encoder} encoder")
        print(f"## {cls.name}: trained in {seconds:.0f} s; chosen by CV: {trained.report['choice']} "
              f"(best CV quality ratio {trained.report['cv_best_quality_ratio']}, score {trained.report['cv_score']})")
        print(markdown_table(["dial", "lambda", "CV quality / cost ratio", "quality (500)", "vs best single (500)",
                              "cost vs best single (500)", f"quality ({len(unseen)})",
                              f"vs best single ({len(unseen)})", f"cost vs best single ({len(unseen)})"], rows))
        print(f"curves: {out}/quality-{kind}-{{all,unseen}}-curve.{{md,svg}}\n", flush=True)


if __name__ == "__main__":
    main()
