"""Parity against llmrouter-lib counts only the held-out queries the library routed (train_all caps them)."""

from __future__ import annotations

import json

import numpy as np

from gateway.mlops import parity
from gateway.routing.artifact import load_artifact
from gateway.routing.encoders import encoder_for


def test_only_the_library_routed_prefix_is_compared(tmp_path, demo_artifact):
    queries = ["Write a Python function that reverses a list", "Hi there!", "Prove that sqrt 2 is irrational",
               "Write a SQL query joining two tables", "Translate hello into French"]
    vectors = encoder_for(load_artifact(demo_artifact)).embed_batch(queries)
    np.save(tmp_path / "embeddings_heldout.npy", vectors)
    gateway = parity.route_all(parity.load_strategy(demo_artifact), [""] * 5, vectors)
    library = gateway[:3]  # as if train_all had routed only the first 3 through the library
    library[1] = "demo-large" if library[1] != "demo-large" else "demo-small"
    (tmp_path / "train_report.json").write_text(json.dumps(
        {"strategies": {"knn": {"artifact": str(demo_artifact), "library_choices": library}}}))
    result = parity.check(tmp_path)["knn"]
    assert (result.agree, result.total) == (2, 3)
    assert result.mismatches == [(1, library[1], gateway[1])]
