"""Each strategy declares its arrays and its training once; registry, exporter and tuner read that."""

from __future__ import annotations

import io

import numpy as np
import pytest

from gateway.routing import artifact as fmt
from gateway.routing.registry import STRATEGIES, resolve, trainable
from gateway.routing.spec import undeclared_arrays
from gateway.routing.static_embedding import TABLE_ARRAY, TOKENIZER_ARRAY
from tests.routing import artifact_factory

TRAINED_BY_THE_PIPELINE = ["elo", "graph", "hybrid", "knn", "mf", "mlp", "svm"]


def test_the_trainable_strategies_are_the_ones_that_declare_training():
    assert sorted(trainable()) == TRAINED_BY_THE_PIPELINE


@pytest.mark.parametrize("short", TRAINED_BY_THE_PIPELINE)
def test_a_trainable_strategy_names_its_exporter_and_tunes_one_of_its_own_hyperparameters(short):
    from gateway.mlops.export import exporter_of

    cls = trainable()[short]
    assert callable(exporter_of(cls)) and exporter_of(cls).__name__ == f"export_{short}"
    assert cls.training.model_suffix in (".pkl", ".pt")
    if cls.training.tune is not None:
        key, values = cls.training.tune
        assert key in cls.training.hparams and len(values) >= 2


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_the_registry_name_is_the_class_name(name):
    assert resolve(name).name == name


def test_every_array_a_valid_artifact_carries_is_declared_by_its_strategy(embedder):
    encoder_arrays = {TABLE_ARRAY, TOKENIZER_ARRAY}
    for name, files in artifact_factory.all_artifacts(embedder).items():
        cls = resolve(name)
        if not cls.arrays:
            continue
        with np.load(io.BytesIO(files[fmt.ARRAYS]), allow_pickle=False) as npz:
            names = [n for n in npz.files if n not in encoder_arrays]
        assert undeclared_arrays(cls.arrays, dict.fromkeys(names)) == [], name


def test_layer_patterns_match_only_layer_indices():
    declared = ("weights_{i}", "biases_{i}", "classes")
    assert undeclared_arrays(declared, dict.fromkeys(["weights_0", "biases_12", "classes"])) == []
    assert undeclared_arrays(declared, dict.fromkeys(["weights_x", "weights_", "classes_"])) == [
        "classes_", "weights_", "weights_x"]


def test_an_exporter_writing_an_array_its_reader_does_not_declare_is_refused(monkeypatch):
    from gateway.errors import ArtifactError
    from gateway.mlops import export

    def exporter(router, trainer, candidates):
        arrays = {"embeddings": np.zeros((2, 4)), "labels": np.array([0, 1]), "neighbours": np.zeros(2)}
        return candidates, arrays, {}, True

    monkeypatch.setattr(export, "exporter_of", lambda cls: exporter)
    with pytest.raises(ArtifactError, match=r"arrays \['neighbours'\] are not declared by KNNStrategy.arrays"):
        export.export("knn", None, None, ["a", "b"], "v1", {})
