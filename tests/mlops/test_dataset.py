"""Conversion to LLMRouter's training format, score weights, and the bad-input rules."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gateway.mlops.dataset import RoutingDataset, ScoreWeights, from_calls, write_training_dir
from gateway.mlops.errors import DatasetError
from gateway.mlops.extract import extract
from gateway.mlops.readers import read_spans

FIXTURES = Path(__file__).parent / "fixtures"


def captured():
    return from_calls(extract(read_spans(FIXTURES / "otlp_file.jsonl", "otlp")))


def test_labelled_and_failed_calls_become_rows_unlabelled_ones_are_counted():
    dataset, stats = captured()
    assert stats == {"labelled": 2, "errors": 1, "unlabelled": 1}
    assert dataset.models == ["demo-small", "demo-coder", "demo-large"]
    i = dataset.queries.index("Write a Python function that reverses a list")
    assert dataset.quality[i].tolist()[1] == 1.0 and np.isnan(dataset.quality[i, 0])
    french = dataset.queries.index("Say hello in French")
    assert dataset.quality[french, 2] == 0.0  # the timeout counts as a failure


def test_cost_and_latency_are_folded_into_the_score_with_the_users_weights():
    q = np.array([[1.0, 1.0]])
    ds = RoutingDataset(["q"], ["cheap", "dear"], q, np.array([[1.0, 4.0]]), np.array([[100.0, 50.0]]))
    assert ds.score(ScoreWeights()).tolist() == [[1.0, 1.0]]
    assert ds.score(ScoreWeights(cost=0.4)).tolist() == [[0.9, 0.6]]
    assert ds.score(ScoreWeights(latency=0.2)).tolist() == [[0.8, 0.9]]
    with pytest.raises(DatasetError, match="must be >= 0"):
        ScoreWeights(cost=-1)


def test_training_files_are_in_llmrouters_format(tmp_path):
    dataset, _ = captured()
    out = write_training_dir(dataset, ScoreWeights(cost=0.5), tmp_path, None, ["held out?"])
    rows = [json.loads(line) for line in (out / "routing_train.jsonl").read_text().splitlines()]
    assert {"query", "model_name", "performance", "embedding_id"} <= set(rows[0])
    queries = json.loads((out / "queries_train.json").read_text())
    assert all(queries[r["embedding_id"]] == r["query"] for r in rows)
    llm = json.loads((out / "llm_data.json").read_text())
    assert set(llm) == {"demo-small", "demo-coder", "demo-large"} and all("size" in v for v in llm.values())


def test_an_empty_dataset_stops_with_a_clear_message(tmp_path):
    empty = RoutingDataset([], ["a", "b"], np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)))
    with pytest.raises(DatasetError, match="no labelled queries"):
        write_training_dir(empty, ScoreWeights(), tmp_path)


def test_a_one_model_dataset_stops_with_a_clear_message(tmp_path):
    q = np.array([[1.0, np.nan], [0.0, np.nan]])
    ds = RoutingDataset(["x", "y"], ["a", "b"], q, q * 0, q * 0)
    with pytest.raises(DatasetError, match="at least 2 models"):
        write_training_dir(ds, ScoreWeights(), tmp_path)
