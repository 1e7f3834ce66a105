"""llmrouter-quality on ../shared/data/llmrouter: trained and calibrated on train.json only, reported on test.

    .venv/bin/python -m bench.quality_router [--encoder static|minilm]

The best single model is the one best on train.json, fixed before the test set is read; every
figure is a paired difference against that policy on the same questions (± standard error), on
all 500 test questions and on the 381 not also in train.json. Rows: dial settings an operator
would use, each turned into lambda by the curve stored in the artifact (cross-validated on train),
then routed through the gateway's own strategy class on the test vectors. The artifact and the
report (`quality.tar`, `report.json`) go to $GATEWAY_MLOPS_BENCH_OUT/quality-<encoder>/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

import numpy as np

from bench.stats import markdown_table
from gateway.mlops.embed import embed_texts, static_encoder
from gateway.mlops.public_data import llmrouter_split
from gateway.mlops.quality_router import train_quality_router
from gateway.routing import artifact as fmt
from gateway.routing.base import RoutingRequest
from gateway.routing.registry import StrategySettings
from gateway.routing.strategies.quality import QualityStrategy

OUT = Path(os.environ.get("GATEWAY_MLOPS_BENCH_OUT", "/var/cache/gateway-build/mlops-bench"))
DIALS = [{"quality_target": 1.0}, {"quality_target": 0.98}, {"max_cost_ratio": 0.8}, {"max_cost_ratio": 0.6},
         {"max_cost_ratio": 0.4}]


def paired(a: np.ndarray, b: np.ndarray) -> str:
    d = a - b
    return f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(len(d)):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", choices=("static", "minilm"), default="static")
    args = parser.parse_args()
    train, _ = llmrouter_split("train")
    test, _ = llmrouter_split("test")
    out = OUT / f"quality-{args.encoder}"
    out.mkdir(parents=True, exist_ok=True)
    files, report = train_quality_router(train, embed_texts(train.queries, encoder=args.encoder, progress=False),
                                         encoder=static_encoder() if args.encoder == "static" else None)
    artifact_path = fmt.write_tar(files, out / "quality.tar")
    (out / "report.json").write_text(json.dumps(report, indent=1))
    artifact = fmt.load_artifact(artifact_path)
    order = [test.models.index(m) for m in train.models]
    quality = np.nan_to_num(test.quality, nan=0.0)[:, order]
    cost = np.nan_to_num(test.cost, nan=0.0)[:, order]
    best = train.models.index(report["best_single"])
    vectors = embed_texts(test.queries, encoder=args.encoder, progress=False)
    seen = set(train.queries)
    unseen = np.array([i for i, q in enumerate(test.queries) if q not in seen])
    rows = []
    for dial in DIALS:
        strategy = QualityStrategy.load(artifact, StrategySettings(args=dial))

        async def choose(vector, strategy=strategy):
            return await strategy.select(RoutingRequest(query="", vector=vector), train.models)

        chosen = np.array([train.models.index(asyncio.run(choose(v)).model) for v in vectors])
        got, got_cost = quality[np.arange(len(chosen)), chosen], cost[np.arange(len(chosen)), chosen]
        cells = [f"{k}={v}" for k, v in dial.items()] + [f"{strategy.cost_weight:.4f}",
                 f"{strategy.expected['quality_ratio']:.3f} / {strategy.expected['cost_ratio']:.2f}"]
        for idx in (np.arange(len(chosen)), unseen):
            cells += [f"{got[idx].mean():.4f}", paired(got[idx], quality[idx, best]),
                      f"{got_cost[idx].sum() / cost[idx, best].sum():.2f}x"]
        rows.append(cells)
    print(f"best single on train.json: {report['best_single']}; chosen by CV: n_neighbors={report['n_neighbors']}, "
          f"alpha={report['alpha']} (score {report['cv_score']})")
    print(f"best single on test: all 500 {quality[:, best].mean():.4f}, {len(unseen)} unseen "
          f"{quality[unseen, best].mean():.4f}\n")
    print(markdown_table(["dial", "lambda", "CV quality / cost ratio", "quality (500)", "vs best single (500)",
                          "cost vs best single (500)", f"quality ({len(unseen)})", f"vs best single ({len(unseen)})",
                          f"cost vs best single ({len(unseen)})"], rows))


if __name__ == "__main__":
    main()
