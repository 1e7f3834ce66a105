"""Publishing is atomic and never happens unless training finished and the gate passed."""

from __future__ import annotations

import pytest

from gateway.errors import ArtifactError
from gateway.mlops.errors import GateError
from gateway.mlops.evaluate import PolicyResult, gate
from gateway.mlops.publish import publish_file
from gateway.routing.artifact import load_artifact
from tests.helpers import constant_knn


def result(quality):
    return PolicyResult("llmrouter-knn", 0.5, quality, 0.0, 0.0, None, 0.0, 0.0, {})


def test_publish_replaces_the_watched_file_atomically(tmp_path):
    target = tmp_path / "serving" / "knn.tar"
    publish_file(constant_knn(tmp_path / "v1.tar", "demo-small", "v1"), target)
    publish_file(constant_knn(tmp_path / "v2.tar", "demo-large", "v2"), target)
    assert load_artifact(target).version == "v2"
    assert [p.name for p in target.parent.iterdir()] == ["knn.tar"]  # no temp file left behind


def test_a_broken_artifact_is_not_published(tmp_path):
    target = tmp_path / "knn.tar"
    publish_file(constant_knn(tmp_path / "v1.tar", "demo-small", "v1"), target)
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar")
    with pytest.raises(ArtifactError):
        publish_file(bad, target)
    assert load_artifact(target).version == "v1"


def test_the_gate_refuses_a_model_below_the_minimum_quality():
    gate([result(0.61)], "llmrouter-knn", 0.6)
    with pytest.raises(GateError, match="below the minimum 0.7000; the published artifact is left as it is"):
        gate([result(0.61)], "llmrouter-knn", 0.7)
