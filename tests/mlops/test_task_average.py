"""Tasks, the task-averaged (macro) metric, a best single model fixed on training data, the tie-break."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.mlops.dataset import RoutingDataset, ScoreWeights
from gateway.mlops.errors import DatasetError
from gateway.mlops.evaluate import evaluate, to_markdown


def _dataset(tasks: list[str] | None) -> RoutingDataset:
    """Task "big" (8 rows): model a right, b wrong. Task "small" (2 rows): b right, a wrong.
    By rows a is best (0.8); by task average both are 0.5, and b wins ties only if told."""
    quality = np.array([[1.0, 0.0]] * 8 + [[0.0, 1.0]] * 2)
    n = len(quality)
    return RoutingDataset([f"q{i}" for i in range(n)], ["a", "b"], quality, np.tile([1.0, 2.0], (n, 1)),
                          np.full((n, 2), np.nan), tasks)


def test_each_task_counts_the_same_in_the_task_average():
    with_tasks = _dataset(["big"] * 8 + ["small"] * 2)
    assert np.allclose(with_tasks.row_weights().sum(), 1.0)
    assert np.allclose(with_tasks.model_means(), [0.5, 0.5])
    assert np.allclose(_dataset(None).model_means(), [0.8, 0.2])
    assert _dataset(None).best_single() == "a"


def test_a_subset_keeps_its_tasks():
    assert _dataset(["big"] * 8 + ["small"] * 2).subset([0, 9]).tasks == ["big", "small"]


def test_the_tie_break_prior_is_the_task_average_or_the_named_model():
    ties = RoutingDataset(["q"], ["a", "b"], np.array([[1.0, 1.0]]), np.zeros((1, 2)), np.full((1, 2), np.nan),
                          ["t"])
    by_average = ties.score(ScoreWeights(prior=0.01))
    assert by_average[0, 0] == by_average[0, 1]  # equal averages: still a tie
    named = ties.score(ScoreWeights(prior=0.01, tie_break="b"))
    assert named[0, 1] > named[0, 0] and named.max() <= 1.01
    with pytest.raises(DatasetError, match="tie_break 'c' is not a model of the dataset"):
        ties.score(ScoreWeights(prior=0.01, tie_break="c"))


def test_the_reference_is_fixed_on_training_data_and_named_as_such():
    held_out = _dataset(["big"] * 8 + ["small"] * 2)
    results = {r.name: r for r in evaluate(held_out, {"router": ["b"] * 10}, reference="b")}
    assert "best single on train (b)" in results
    assert results["router"].quality_diff_vs_best_single == 0.0
    own = {r.name for r in evaluate(held_out, {"router": ["b"] * 10})}
    assert "best single (a, chosen on this split)" in own
    with pytest.raises(DatasetError, match="reference model 'z' is not in the evaluated split"):
        evaluate(held_out, {}, reference="z")


def test_the_report_gives_the_task_average_and_its_paired_difference():
    held_out = _dataset(["big"] * 8 + ["small"] * 2)
    oracle_like = ["a"] * 8 + ["b"] * 2
    results = {r.name: r for r in evaluate(held_out, {"router": oracle_like}, reference="a")}
    router = results["router"]
    assert router.mean_quality == 1.0 and router.macro_quality == 1.0
    assert router.macro_diff_vs_best_single == pytest.approx(0.5)  # a: 1.0 on big, 0.0 on small
    assert router.macro_diff_stderr == pytest.approx(0.0)
    assert "task-averaged quality" in to_markdown(list(results.values()), "t")
    assert results["router"].macro_quality is not None
    assert evaluate(_dataset(None), {"router": oracle_like})[0].macro_quality is None
