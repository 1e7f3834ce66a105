"""Do the quality routers generalise? Cross-validation on llmrouter's train.json, in and out of distribution.

    .venv/bin/python -m bench.quality_generalisation [--encoder static|minilm] [--kinds knn,logistic,mlp]

The proxy for data this project never sees: train.json names a task (cluster) per question.
- **In distribution**: 5 folds over the questions; each router is trained (its own inner
  cross-validation included) on 4 folds and routes the 5th.
- **Out of distribution**: leave one task out; trained on the other tasks, routes the held-out task.
Each router runs at its default dial (the best cross-validated quality). The reference is the best
single model chosen on the same training part (task-averaged), never on the part routed; figures are
task-averaged paired differences ± standard error, pooled over the folds, and the cost ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.stats import markdown_table
from gateway.mlops.embed import embed_texts
from gateway.mlops.evaluate import task_mean
from gateway.mlops.public_data import llmrouter_split
from gateway.mlops.quality_router import STRATEGIES, train_quality_router
from gateway.mlops.tune import fold_assignment


def routed(kind: str, train, train_vectors: np.ndarray, vectors: np.ndarray) -> tuple[np.ndarray, int]:
    """Chosen column per routed row, and the best single model's column (both in train.models order)."""
    trained = train_quality_router(train, train_vectors, kind=kind)
    chosen = trained.choose(vectors)
    return np.array([train.models.index(m) for m in chosen]), train.models.index(train.best_single())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", choices=("static", "minilm"), default="static")
    parser.add_argument("--kinds", default=",".join(STRATEGIES))
    args = parser.parse_args()
    data, _ = llmrouter_split("train")
    vectors = embed_texts(data.queries, encoder=args.encoder, progress=False)
    quality, cost = np.nan_to_num(data.quality), np.nan_to_num(data.cost)
    tasks = np.array(data.tasks, dtype=object)
    splits = {"in distribution (5-fold CV)": [fold_assignment(len(data), 5, 0) == f for f in range(5)],
              "out of distribution (leave one task out)": [tasks == t for t in np.unique(tasks)]}
    rows = []
    for kind in args.kinds.split(","):
        for split, held_parts in splits.items():
            started = time.perf_counter()
            diff, spent, base = (np.zeros(len(data)) for _ in range(3))
            for held in held_parts:
                train = data.subset(np.flatnonzero(~held))
                chosen, best = routed(kind, train, vectors[~held], vectors[held])
                rows_held = np.flatnonzero(held)
                diff[held] = quality[rows_held, chosen] - quality[rows_held, best]
                spent[held], base[held] = cost[rows_held, chosen], cost[rows_held, best]
            mean, stderr = task_mean(diff, data.tasks)
            rows.append([STRATEGIES[kind].name, split, f"{mean:+.4f} ± {stderr:.4f}", f"{mean / stderr:+.1f}",
                         f"{task_mean(spent, data.tasks)[0] / task_mean(base, data.tasks)[0]:.2f}x",
                         f"{time.perf_counter() - started:.0f} s"])
            print(" | ".join(rows[-1]), flush=True)
    print()
    print(markdown_table(["router (default dial)", "split", "Δ task-averaged quality vs best single (± s.e.)",
                          "Δ / s.e.", "cost vs best single", "time"], rows))


if __name__ == "__main__":
    main()
