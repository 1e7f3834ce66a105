"""The training table every source converts to, and its conversion to LLMRouter's files.

`RoutingDataset`: one row per distinct query, one column per model; quality in [0, 1] (NaN where
the model was not observed on that query), cost in USD and latency in ms per call (NaN unknown).
LLMRouter's trainers ignore cost and latency, so they are folded into the score it trains on:

    performance = quality - cost_weight * cost / max(cost) - latency_weight * latency / max(latency)
                  + prior_weight * mean quality of the model over the dataset

with the weights the user sets (`ScoreWeights`); all 0 keeps pure quality. The prior term breaks
ties: with 0/1 labels most queries have several best models (or none right), and LLMRouter labels
a query with the *first* best row; a small prior (0.01) makes that the model that is better on
average instead of whichever is listed first. "On average" is the **task average** (macro) when
the dataset names a task per query (`tasks`), else the mean over rows: with tasks of very
different sizes the row mean favours whatever model is good at the largest task. `tie_break`
names a model that wins every tie outright.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.mlops.errors import DatasetError
from gateway.mlops.extract import ExtractResult


@dataclass(frozen=True)
class ScoreWeights:
    cost: float = 0.0
    latency: float = 0.0
    prior: float = 0.0
    tie_break: str | None = None  # a model that wins every tie (else: the best on the task average)

    def __post_init__(self):
        if self.cost < 0 or self.latency < 0 or self.prior < 0:
            raise DatasetError(f"score weights must be >= 0 (cost={self.cost}, latency={self.latency}, "
                               f"prior={self.prior})")


@dataclass
class RoutingDataset:
    queries: list[str]
    models: list[str]
    quality: np.ndarray  # (n, L)
    cost: np.ndarray  # (n, L)
    latency_ms: np.ndarray  # (n, L)
    tasks: list[str] | None = None  # the task (benchmark, group) of each query, when known

    def __len__(self) -> int:
        return len(self.queries)

    def subset(self, rows: Sequence[int]) -> RoutingDataset:
        rows = list(rows)
        return RoutingDataset([self.queries[i] for i in rows], list(self.models), self.quality[rows],
                              self.cost[rows], self.latency_ms[rows],
                              None if self.tasks is None else [self.tasks[i] for i in rows])

    def row_weights(self) -> np.ndarray:
        """Weights summing to 1 that make a weighted mean over rows the task average (macro): each
        task counts the same, whatever its size. Without tasks, every row counts the same."""
        n = len(self)
        if self.tasks is None or n == 0:
            return np.full(n, 1.0 / max(n, 1))
        names, index, counts = np.unique(np.array(self.tasks, dtype=object), return_inverse=True, return_counts=True)
        return 1.0 / (len(names) * counts[index])

    def model_means(self) -> np.ndarray:
        """Each model's task-averaged mean quality over the rows where it was observed."""
        seen = np.isfinite(self.quality)
        weights = self.row_weights()[:, None] * seen
        total = weights.sum(axis=0)
        return np.where(total > 0, (np.nan_to_num(self.quality) * weights).sum(axis=0) / np.maximum(total, 1e-300), 0.0)

    def best_single(self) -> str:
        """The model with the highest task-averaged quality: the reference every router is judged against."""
        return self.models[int(np.argmax(self.model_means()))]

    def score(self, weights: ScoreWeights) -> np.ndarray:
        """Quality with cost and latency folded in, per (query, model); NaN where quality is unknown."""
        def norm(x: np.ndarray) -> np.ndarray:
            top = np.nanmax(x) if np.any(np.isfinite(x)) else 0.0
            return np.nan_to_num(x / top, nan=0.0) if top > 0 else np.zeros_like(x)
        prior = self.model_means()
        if weights.tie_break is not None:
            if weights.tie_break not in self.models:
                raise DatasetError(f"tie_break '{weights.tie_break}' is not a model of the dataset "
                                   f"({', '.join(self.models)})")
            prior[self.models.index(weights.tie_break)] = prior.max() + 1.0
            prior = prior / prior.max()  # in [0, 1], as the quality it breaks ties for
        return (self.quality - weights.cost * norm(self.cost) - weights.latency * norm(self.latency_ms)
                + weights.prior * np.nan_to_num(prior)[None, :])

    def check_trainable(self, source: str = "dataset") -> None:
        """An empty or one-model dataset cannot train a router: say so, and what to do."""
        if len(self) == 0:
            raise DatasetError(f"{source}: no labelled queries; capture traffic with quality labels "
                               "(feedback or shadow evaluation) first")
        seen = [m for j, m in enumerate(self.models) if np.any(np.isfinite(self.quality[:, j]))]
        if len(seen) < 2:
            raise DatasetError(f"{source}: quality is known for {len(seen)} model(s) ({', '.join(seen) or 'none'}); "
                               "a router needs labels for at least 2 models (run a shadow evaluation)")


def from_calls(extracted: ExtractResult, error_quality: float = 0.0) -> tuple[RoutingDataset, dict[str, int]]:
    """Captured calls + feedback -> a dataset. A call's quality is the mean of its feedback scores;
    a failed call scores `error_quality`; an unlabelled successful call is left out (counted)."""
    stats = {"unlabelled": 0, "labelled": 0, "errors": 0}
    cells: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    models: list[str] = []
    for call in extracted.calls:
        for name in (*call.candidates, call.chosen):
            if name not in models:
                models.append(name)
        if call.error:
            quality = error_quality
            stats["errors"] += 1
        elif call.response_id in extracted.feedback:
            quality = float(np.mean(extracted.feedback[call.response_id]))
            stats["labelled"] += 1
        else:
            stats["unlabelled"] += 1
            continue
        cells.setdefault((call.query, call.chosen), []).append((quality, call.cost_usd, call.latency_ms))
    queries = list(dict.fromkeys(q for q, _ in cells))
    n, m = len(queries), len(models)
    arrays = [np.full((n, m), np.nan) for _ in range(3)]
    qi = {q: i for i, q in enumerate(queries)}
    for (query, model), values in cells.items():
        mean = np.mean(np.array(values), axis=0)
        for array, value in zip(arrays, mean, strict=True):
            array[qi[query], models.index(model)] = value
    return RoutingDataset(queries, models, *arrays), stats


def llm_data_for(models: Sequence[str], llm_data: dict | None) -> dict:
    """LLMRouter's model list for `models`: the given entries, or minimal ones (`size` is needed by
    hybrid; unknown sizes default to the order given, smallest first)."""
    out = {}
    for i, name in enumerate(models):
        entry = dict((llm_data or {}).get(name) or {})
        entry.setdefault("size", f"{i + 1}B")
        entry.setdefault("feature", name)
        entry.setdefault("input_price", 0.0)
        entry.setdefault("output_price", 0.0)
        entry.setdefault("model", name)
        out[name] = entry
    return out


def write_training_dir(dataset: RoutingDataset, weights: ScoreWeights, directory: Path, llm_data: dict | None = None,
                       heldout: Sequence[str] = ()) -> Path:
    """LLMRouter's inputs for `gateway.mlops.train`: `routing_train.jsonl` (`query`, `model_name`,
    `performance` = the folded score, `embedding_id`, plus the raw `quality`, `cost`, `latency_ms`),
    `llm_data.json`, and `heldout.jsonl` (queries the library routes for the parity check).
    Embeddings are computed by the trainer from the same query texts (cached)."""
    dataset.check_trainable(str(directory))
    directory.mkdir(parents=True, exist_ok=True)
    score = dataset.score(weights)
    with (directory / "routing_train.jsonl").open("w", encoding="utf-8") as out:
        for i, query in enumerate(dataset.queries):
            for j, model in enumerate(dataset.models):
                if not np.isfinite(score[i, j]):
                    continue
                row = {
                    "query": query, "model_name": model, "performance": float(score[i, j]), "embedding_id": i,
                    "quality": float(dataset.quality[i, j]),
                    "cost": None if np.isnan(dataset.cost[i, j]) else float(dataset.cost[i, j]),
                    "latency_ms": None if np.isnan(dataset.latency_ms[i, j]) else float(dataset.latency_ms[i, j]),
                }
                if dataset.tasks is not None:
                    row["task_name"] = dataset.tasks[i]  # LLMRouter's own field for it
                out.write(json.dumps(row) + "\n")
    (directory / "queries_train.json").write_text(json.dumps(dataset.queries))
    (directory / "llm_data.json").write_text(json.dumps(llm_data_for(dataset.models, llm_data), indent=1))
    with (directory / "heldout.jsonl").open("w", encoding="utf-8") as out:
        for query in heldout:
            out.write(json.dumps({"query": query}) + "\n")
    return directory


def read_training_dir(directory: Path) -> RoutingDataset:
    """The dataset `write_training_dir` wrote, from its raw columns (`quality`, `cost`, `latency_ms`,
    `task_name`): what the gateway's own trainers read; NaN where a model was not observed."""
    queries = json.loads((directory / "queries_train.json").read_text())
    rows = [json.loads(line) for line in (directory / "routing_train.jsonl").read_text().splitlines() if line]
    models = list(dict.fromkeys(row["model_name"] for row in rows))
    arrays = [np.full((len(queries), len(models)), np.nan) for _ in range(3)]
    tasks: list[str | None] = [None] * len(queries)
    for row in rows:
        i, j = row["embedding_id"], models.index(row["model_name"])
        for array, key in zip(arrays, ("quality", "cost", "latency_ms"), strict=True):
            if row.get(key) is not None:
                array[i, j] = row[key]
        tasks[i] = row.get("task_name", tasks[i])
    named = None if any(task is None for task in tasks) else [str(task) for task in tasks]
    return RoutingDataset(list(queries), models, *arrays, tasks=named)
