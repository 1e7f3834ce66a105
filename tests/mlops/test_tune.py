"""Cross-validation helpers (gateway.mlops.tune): folds, the per-trial summary and the selection
rule, on small hand-made tables (numpy only, no training environment)."""

from __future__ import annotations

import numpy as np

from gateway.mlops.dataset import RoutingDataset
from gateway.mlops.tune import GRIDS, Trial, best_single_cost, fold_assignment, select, summarise


def table() -> RoutingDataset:
    quality = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, np.nan, 0.0], [0.0, 0.0, 1.0]])
    cost = np.array([[1.0, 2.0, 5.0]] * 4)
    return RoutingDataset([f"q{i}" for i in range(4)], ["a", "b", "c"], quality, cost, np.full_like(quality, np.nan))


def test_every_row_is_in_exactly_one_fold_of_near_equal_size():
    fold_of = fold_assignment(103, folds=5, seed=0)
    assert sorted(np.bincount(fold_of).tolist()) == [20, 20, 21, 21, 21]
    assert np.array_equal(fold_of, fold_assignment(103, folds=5, seed=0))
    assert not np.array_equal(fold_of, fold_assignment(103, folds=5, seed=1))


def test_a_trial_scores_each_row_with_the_model_chosen_for_it():
    trial = summarise(table(), np.array([0, 1, 1, 2]), {"C": 1.0}, 0.2)
    # quality 1 + 1 + 0 (unknown counts as 0) + 1; cost 1 + 2 + 2 + 5
    assert trial == Trial({"C": 1.0}, 0.2, 0.75, 2.5)


def test_best_single_cost_is_the_cost_of_the_model_best_on_average():
    assert best_single_cost(table()) == 5.0  # c: mean quality 0.75


def test_with_tasks_every_task_counts_the_same_in_a_trial_and_in_the_best_single_model():
    tasked = table()
    tasked.tasks = ["big", "big", "big", "small"]  # row means would let the big task decide
    trial = summarise(tasked, np.array([0, 0, 0, 0]), {}, 0.0)
    assert trial.quality == (2 / 3 + 0.0) / 2 and trial.cost == 1.0
    # task averages: a (2/3 + 0) / 2 = 0.33, c (2/3 + 1) / 2 = 0.83: c
    assert best_single_cost(tasked) == 5.0
    tasked.quality[3] = [1.0, 0.0, 0.0]  # the small task now favours a: a (2/3 + 1) / 2 = 0.83 > c (2/3 + 0) / 2
    assert tasked.best_single() == "a" and best_single_cost(tasked) == 1.0


def test_selection_prefers_the_best_quality_cheaper_than_the_best_single_model():
    trials = [Trial({"k": 1}, 0.0, 0.80, 6.0), Trial({"k": 2}, 0.0, 0.70, 4.0), Trial({"k": 3}, 0.2, 0.72, 3.0)]
    assert select(trials, single_cost=5.0) == trials[2]


def test_selection_falls_back_to_the_best_quality_when_nothing_is_cheaper():
    trials = [Trial({"k": 1}, 0.0, 0.60, 6.0), Trial({"k": 2}, 0.2, 0.65, 5.0)]
    assert select(trials, single_cost=5.0) == trials[1]


def test_the_grids_name_keys_the_library_reads():
    # the hparam keys llmrouter-lib 0.4.0 passes to SVC / reads in MLPTrainer, MFRouterTrainer, GraphRouter
    assert {s: key for s, (key, _) in GRIDS.items()} == {
        "knn": "n_neighbors", "svm": "C", "mlp": "epochs", "mf": "epochs", "graph": "hidden_dim"}
    assert all(len(values) >= 2 for _, values in GRIDS.values())
