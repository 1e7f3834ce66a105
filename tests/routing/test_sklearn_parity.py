"""KNN, SVM, MLP and Hybrid reproduce fitted scikit-learn models' predictions exactly.

The expected outputs come from scikit-learn itself (fixtures/make_sklearn_reference.py, run in the
training environment); this venv has no scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.routing import artifact as fmt
from gateway.routing.strategies.graph import minmax_with_query
from gateway.routing.strategies.hybrid import HybridStrategy
from gateway.routing.strategies.knn import KNNStrategy
from gateway.routing.strategies.mlp import MLPStrategy
from gateway.routing.strategies.svm import SVMStrategy
from tests.routing.artifact_factory import spec

REF = np.load(Path(__file__).parent / "fixtures" / "sklearn_reference.npz", allow_pickle=False)
NAMES = ["m-zeta", "m-alpha", "m-mid", "m-beta"]  # deliberately not sorted


def build(strategy, arrays, params, candidates=NAMES, tmp_path=None):
    files = fmt.build_files(
        strategy=strategy,
        version="ref",
        candidates=list(candidates),
        arrays=arrays,
        params=params,
        embedding=spec(16),
    )
    return fmt.load_artifact(fmt.write_dir(files, tmp_path / strategy))


def index_of(names, candidates=NAMES):
    return np.array([list(candidates).index(str(n)) for n in names])


def predictions(strategy, candidates=NAMES):
    return [strategy.select_vector(q, list(candidates)).model for q in REF["Q"]]


@pytest.mark.parametrize("i", range(5))
def test_knn_matches_kneighborsclassifier(i, tmp_path):
    k, weights, metric = (str(v) for v in REF[f"knn{i}_params"])
    artifact = build(
        "llmrouter-knn",
        {"embeddings": REF["X"], "labels": index_of(REF["y"])},
        {"n_neighbors": int(k), "weights": weights, "metric": metric},
        tmp_path=tmp_path,
    )
    assert predictions(KNNStrategy.load(artifact)) == [str(v) for v in REF[f"knn{i}_pred"]]


@pytest.mark.parametrize("i", range(4))
def test_svm_matches_svc(i, tmp_path):
    p = f"svm{i}_"
    classes = [str(v) for v in REF[p + "classes"]]
    candidates = NAMES if len(classes) > 2 else classes[::-1]
    arrays = {name: REF[p + name] for name in ("support_vectors", "n_support", "dual_coef", "intercept")}
    arrays["classes"] = index_of(classes, candidates)
    params = {
        "kernel": str(REF[p + "kernel"]),
        "gamma": float(REF[p + "gamma"]),
        "degree": int(REF[p + "degree"]),
        "coef0": float(REF[p + "coef0"]),
    }
    strategy = SVMStrategy.load(build("llmrouter-svm", arrays, params, candidates, tmp_path))
    assert predictions(strategy, candidates) == [str(v) for v in REF[p + "pred"]]


@pytest.mark.parametrize("i", range(3))
def test_mlp_matches_mlpclassifier(i, tmp_path):
    p = f"mlp{i}_"
    classes = [str(v) for v in REF[p + "classes"]]
    candidates = NAMES if len(classes) > 2 else classes[::-1]
    arrays = {"classes": index_of(classes, candidates)}
    for j in range(int(REF[p + "layers"])):
        arrays[f"weights_{j}"] = REF[f"{p}w{j}"]
        arrays[f"biases_{j}"] = REF[f"{p}b{j}"]
    strategy = MLPStrategy.load(
        build("llmrouter-mlp", arrays, {"activation": str(REF[p + "activation"])}, candidates, tmp_path)
    )
    assert predictions(strategy, candidates) == [str(v) for v in REF[p + "pred"]]


def test_hybrid_regressor_matches_mlpregressor(tmp_path):
    arrays = {}
    for j in range(int(REF["hyb_layers"])):
        arrays[f"weights_{j}"] = REF[f"hyb_w{j}"]
        arrays[f"biases_{j}"] = REF[f"hyb_b{j}"]
    params = {"small_model": "m-zeta", "large_model": "m-beta", "activation": "relu"}
    strategy = HybridStrategy.load(build("llmrouter-hybrid", arrays, params, ["m-zeta", "m-beta"], tmp_path))
    got = [strategy.score(q) for q in REF["Q"]]
    # sklearn computes in the input's float32, we in float64: equal to float32 rounding.
    np.testing.assert_allclose(got, np.clip(REF["hyb_pred"], 0.0, 1.0), rtol=0, atol=1e-6)


def test_graph_minmax_matches_minmaxscaler_refit_per_query():
    got = np.stack([minmax_with_query(q, REF["mm_train_min"], REF["mm_train_max"]) for q in REF["Q"]])
    np.testing.assert_array_equal(got, REF["mm_pred"])
