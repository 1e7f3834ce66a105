"""The loop in one call: traces -> dataset -> train (training environment) -> evaluate -> gate -> publish.

The training step runs `python -m gateway.mlops.train` in the training environment
(`GATEWAY_TRAINING_PYTHON`, default /var/cache/gateway-build/training-venv/bin/python, made by
`make training-env`); everything else runs here, with the gateway's own dependencies.
Nothing is published unless training finished and the held-out mean quality reached
`min_quality` (the evaluation gate).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.mlops import parity
from gateway.mlops.curve_report import chosen_index, heldout_curve, write_curve_report
from gateway.mlops.dataset import RoutingDataset, ScoreWeights, from_calls, write_training_dir
from gateway.mlops.errors import MLOpsError
from gateway.mlops.evaluate import evaluate, gate, write_report
from gateway.mlops.extract import ExtractResult, extract
from gateway.mlops.readers import read_spans
from gateway.routing.strategies.quality_dial import QualityDialStrategy

logger = logging.getLogger("gateway.mlops")
TRAINING_PYTHON = Path(os.environ.get("GATEWAY_TRAINING_PYTHON",
                                      "/var/cache/gateway-build/training-venv/bin/python"))


@dataclass(frozen=True)
class LoopResult:
    extracted: ExtractResult
    stats: dict
    artifact: Path
    report: Path
    published: str | None


def read_traces(sources: Sequence[tuple[str, Path]]) -> ExtractResult:
    result = ExtractResult()
    for fmt, path in sources:
        extract(read_spans(path, fmt), result)
    return result


def split(dataset: RoutingDataset, heldout_every: int = 5) -> tuple[RoutingDataset, RoutingDataset, bool]:
    """Every `heldout_every`-th query is held out; under 10 queries, evaluation reuses the training set."""
    n = len(dataset)
    if n < 10:
        return dataset, dataset, False
    held = [i for i in range(n) if i % heldout_every == heldout_every - 1]
    return dataset.subset([i for i in range(n) if i not in set(held)]), dataset.subset(held), True


def train(data: Path, out: Path, strategies: Sequence[str], python: Path = TRAINING_PYTHON,
          hparams: dict | None = None) -> None:
    if not Path(python).exists():
        raise MLOpsError(f"training environment missing: {python} not found; run `make training-env` "
                         "(or set GATEWAY_TRAINING_PYTHON)")
    cmd = [str(python), "-m", "gateway.mlops.train", "--data", str(data), "--out", str(out),
           "--strategies", ",".join(strategies)]
    if hparams:
        out.mkdir(parents=True, exist_ok=True)
        (out / "hparams.json").write_text(json.dumps(hparams))
        cmd += ["--hparams", str(out / "hparams.json")]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                          cwd=Path(__file__).resolve().parents[2])
    if done.returncode != 0:
        raise MLOpsError(f"training failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")


def run_loop(sources: Sequence[tuple[str, Path]], work: Path, strategy: str = "knn",
             weights: ScoreWeights | None = None, min_quality: float = 0.0, llm_data: dict | None = None,
             publish=None, hparams: dict | None = None) -> LoopResult:
    """`publish(artifact, report) -> str` is called only after the gate passed."""
    extracted = read_traces(sources)
    logger.info("traces: %s", extracted.summary())
    dataset, stats = from_calls(extracted)
    dataset.check_trainable("captured traces")
    train_set, heldout, separate = split(dataset)
    data = write_training_dir(train_set, weights or ScoreWeights(), work / "data", llm_data, heldout.queries)
    out = work / "artifacts"
    hparams = dict(hparams or {})
    if strategy == "knn":  # k cannot exceed the training rows of a small capture
        knn = dict(hparams.get("knn", {}))
        knn["n_neighbors"] = min(int(knn.get("n_neighbors", 5)), len(train_set))
        hparams["knn"] = knn
    train(data, out, [strategy], hparams=hparams)
    artifact = out / f"{strategy}.tar"
    vectors = np.load(out / "embeddings_heldout.npy")
    model = parity.load_strategy(artifact)
    chosen = parity.route_all(model, heldout.queries, vectors)
    results = evaluate(heldout, {f"llmrouter-{strategy}": chosen}, reference=train_set.best_single())
    files = write_report(results, work / "evaluation", f"captured traffic, llmrouter-{strategy}",
                         {"heldout_separate": separate, **stats, "extract": extracted.summary()})
    if isinstance(model, QualityDialStrategy):  # its cost-quality curve on the held-out calls, dial marked
        points = heldout_curve(model, heldout, vectors, train_set.best_single())
        files.update(write_curve_report(points, chosen_index(model, points), work / "evaluation", strategy,
                                        f"captured traffic, llmrouter-{strategy}: cost-quality curve"))
    gate(results, f"llmrouter-{strategy}", min_quality)
    published = publish(artifact, files["json"]) if publish is not None else None
    return LoopResult(extracted, stats, artifact, files["json"], published)
