"""Routing quality: the same routers trained on the static encoder vs on MiniLM, paired per query.

    .venv/bin/python -m bench.encoder_quality [--strategies knn,svm,mlp,mf,hybrid] [--tuned]

Reads the two runs `bench.mlops_llmrouter --encoder static` and `--encoder minilm` left under
$GATEWAY_MLOPS_BENCH_OUT (cost weight 0): each run's exported artifacts route the llmrouter test
questions with that run's own vectors, through the gateway's strategy classes. Per router: mean
quality on all 500 and on the 381 questions not in train.json for each encoder, and the paired
difference static - MiniLM with its standard error (the same questions, so the pairing removes
the questions' own difficulty). `--tuned` compares the runs of `bench.mlops_llmrouter --tune
STRATEGIES --encoder static|minilm` instead: each encoder with the hyperparameters cross-validation
on train.json chose for it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from bench.stats import markdown_table
from gateway.mlops import parity
from gateway.mlops.public_data import llmrouter_split

OUT = Path(os.environ.get("GATEWAY_MLOPS_BENCH_OUT", "/var/cache/gateway-build/mlops-bench"))
RUNS = {"static": OUT / "cost-0" / "artifacts", "MiniLM": OUT / "minilm-cost-0" / "artifacts"}
TUNED = {"static": OUT / "tuned", "MiniLM": OUT / "minilm-tuned"}


def tuned_run(encoder_dir: Path, strategy: str) -> Path:
    """The artifacts folder `--tune` trained `strategy` into (its index.json)."""
    index = encoder_dir / "index.json"
    if not index.exists():
        raise SystemExit(f"{index}: missing; run `bench.mlops_llmrouter --tune {strategy} --encoder ...` first")
    return Path(json.loads(index.read_text())[strategy])


def qualities(run: Path, strategy: str, models: list[str], quality: np.ndarray) -> np.ndarray:
    vectors = np.load(run / "embeddings_heldout.npy")
    chosen = parity.route_all(parity.load_strategy(run / f"{strategy}.tar"), [""] * len(vectors), vectors)
    return quality[np.arange(len(chosen)), [models.index(c) for c in chosen]]


def paired(a: np.ndarray, b: np.ndarray) -> str:
    diff = a - b
    return f"{diff.mean():+.4f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategies", default="knn,svm,mlp,mf,hybrid")
    parser.add_argument("--tuned", action="store_true", help="compare the --tune runs (see the module docstring)")
    args = parser.parse_args()
    for label, run in ({} if args.tuned else RUNS).items():
        if not (run / "embeddings_heldout.npy").exists():
            raise SystemExit(f"{run}: missing; run `bench.mlops_llmrouter --encoder "
                             f"{'static' if label == 'static' else 'minilm'} --cost-weights 0` first")
    train, _ = llmrouter_split("train")
    test, _ = llmrouter_split("test")
    quality = np.nan_to_num(test.quality, nan=0.0)
    seen = set(train.queries)
    unseen = np.array([i for i, q in enumerate(test.queries) if q not in seen])
    rows = []
    for strategy in args.strategies.split(","):
        runs = [tuned_run(d, strategy) for d in TUNED.values()] if args.tuned else RUNS.values()
        s, m = (qualities(run, strategy, test.models, quality) for run in runs)
        rows.append([f"llmrouter-{strategy}", f"{s.mean():.4f}", f"{m.mean():.4f}", paired(s, m),
                     f"{s[unseen].mean():.4f}", f"{m[unseen].mean():.4f}", paired(s[unseen], m[unseen])])
    print(markdown_table(["router", "static (500)", "MiniLM (500)", "static - MiniLM (500)",
                          f"static ({len(unseen)} unseen)", f"MiniLM ({len(unseen)} unseen)",
                          f"static - MiniLM ({len(unseen)} unseen)"], rows))


if __name__ == "__main__":
    main()
