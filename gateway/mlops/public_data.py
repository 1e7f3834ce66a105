"""Loaders for the public routing datasets in ../shared/data (read in place, never copied).

- `llmrouter/{train,test}.json`: 9 open models, 0/1 correctness per query; `default_llm.json` prices.
  Cost per call is estimated from list prices: prompt tokens ~ 1.3 x words, 200 completion tokens
  (the files carry no token counts); it orders models as their prices do.
- `routellm/`: GPT-4 vs Mixtral correctness on MMLU and GSM8K, GPT-4 judge scores on MT-Bench
  (decontaminated as RouteLLM does); cost is 1 for the strong model and 0 for the weak one, so
  total cost = number of strong calls.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from gateway.mlops.dataset import RoutingDataset

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
COMPLETION_TOKENS = 200


def call_cost(query: str, info: dict) -> float:
    prompt_tokens = 1.3 * len(query.split())
    prices = float(info.get("input_price", 0)), float(info.get("output_price", 0))
    return (prompt_tokens * prices[0] + COMPLETION_TOKENS * prices[1]) / 1e6


def llmrouter_split(split: str, root: Path = SHARED) -> tuple[RoutingDataset, dict]:
    rows = json.loads((root / "llmrouter" / f"{split}.json").read_text())
    llm_data = json.loads((root / "llmrouter" / "default_llm.json").read_text())
    models = list(rows[0]["scores"])
    quality = np.array([[float(r["scores"][m]) for m in models] for r in rows])
    queries = [r["question"] for r in rows]
    cost = np.array([[call_cost(q, llm_data[m]) for m in models] for q in queries])
    # train.json names a cluster (task group) per question; test.json does not
    tasks = [f"cluster-{r['cluster_id']}" for r in rows] if all("cluster_id" in r for r in rows) else None
    return RoutingDataset(queries, models, quality, cost, np.full_like(quality, np.nan), tasks), \
        {m: llm_data[m] for m in models}


def _contaminated(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {json.loads(line)["eval_prompt"] for line in path.read_text().splitlines() if line.strip()}


STRONG, WEAK = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"


def routellm_benchmark(name: str, root: Path = SHARED) -> RoutingDataset:
    """`gsm8k`, `mmlu` or `mt_bench`: columns (weak, strong) = (Mixtral, GPT-4), cost 0/1; quality
    0/1 (correct), or for `mt_bench` the judge score / 10 (see `mt_bench`)."""
    if name == "mt_bench":
        return mt_bench(root)
    evals = root / "routellm" / "routellm" / "evals" / name
    bad = _contaminated(evals / "contaminated_prompts.jsonl")
    files = [evals / "gsm8k_responses.csv"] if name == "gsm8k" else sorted((evals / "responses").glob("*.csv"))
    queries, quality = [], []
    for file in files:
        with file.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["prompt"] in bad:
                    continue
                weak_key = next(k for k in row if "ixtral" in k and not k.endswith("_response"))
                queries.append(row["prompt"])
                quality.append([row[weak_key] == "True", row[STRONG] == "True"])
    q = np.array(quality, dtype=float)
    cost = np.tile([0.0, 1.0], (len(queries), 1))
    return RoutingDataset(queries, [WEAK, STRONG], q, cost, np.full_like(q, np.nan))


def mt_bench(root: Path = SHARED, decontaminate: bool = True) -> RoutingDataset:
    """MT-Bench as RouteLLM evaluates it (`routellm/evals/benchmarks.py`, class MTBench): one row
    per question, routed on its first turn's text; the routed model answers both turns, so a
    model's quality on a row is the mean of its two GPT-4 judge scores (1-10), divided by 10 to
    stay in [0, 1] (x 10 gives back the judge scale; the row mean is the all-turns mean because
    every question has two turns). `decontaminate` drops, as RouteLLM does, every question either
    of whose turns is in `contaminated_prompts.jsonl` (8 of 80)."""
    evals = root / "routellm" / "routellm" / "evals" / "mt_bench"
    bad = _contaminated(evals / "contaminated_prompts.jsonl") if decontaminate else set()
    questions = [json.loads(line) for line in (evals / "question.jsonl").read_text().splitlines() if line.strip()]
    scores: dict[tuple[int, str], list[float]] = {}
    for line in (evals / "judgements.jsonl").read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            scores.setdefault((row["question_id"], row["model"]), []).append(float(row["score"]))
    weak_key = next(model for _, model in scores if "ixtral" in model)
    kept = [q for q in questions if not bad.intersection(q["turns"])]
    quality = np.array([[np.mean(scores[q["question_id"], weak_key]), np.mean(scores[q["question_id"], STRONG])]
                        for q in kept]) / 10
    cost = np.tile([0.0, 1.0], (len(kept), 1))
    return RoutingDataset([q["turns"][0] for q in kept], [WEAK, STRONG], quality, cost, np.full_like(quality, np.nan))
