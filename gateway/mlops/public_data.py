"""Loaders for the public routing datasets in ../shared/data (read in place, never copied).

- `llmrouter/{train,test}.json`: 9 open models, 0/1 correctness per query; `default_llm.json` prices.
  Cost per call is estimated from list prices: prompt tokens ~ 1.3 x words, 200 completion tokens
  (the files carry no token counts); it orders models as their prices do.
- `routellm/`: GPT-4 vs Mixtral correctness on MMLU and GSM8K (decontaminated as RouteLLM does);
  cost is 1 for the strong model and 0 for the weak one, so total cost = number of strong calls.
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
    return RoutingDataset(queries, models, quality, cost, np.full_like(quality, np.nan)), \
        {m: llm_data[m] for m in models}


def _contaminated(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {json.loads(line)["eval_prompt"] for line in path.read_text().splitlines() if line.strip()}


STRONG, WEAK = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"


def routellm_benchmark(name: str, root: Path = SHARED) -> RoutingDataset:
    """`gsm8k` or `mmlu`: columns (weak, strong) = (Mixtral, GPT-4), quality 0/1, cost 0/1."""
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
