"""Bad artifacts fail at load time with an ArtifactError that names the problem."""

from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from gateway.errors import ArtifactError
from gateway.routing import artifact as fmt
from gateway.routing.artifact import load_artifact
from gateway.routing.registry import resolve
from tests.routing import artifact_factory as factory


@pytest.fixture(scope="module")
def c(embedder):
    return factory.centroids(embedder)


def load(name, path):
    return resolve(name).load(load_artifact(path), None)


def test_wrong_strategy(tmp_path, c):
    path = factory.write(tmp_path / "a.tar", factory.mf(c))
    with pytest.raises(ArtifactError, match="artifact is for strategy 'llmrouter-mf', not 'llmrouter-svm'"):
        load("llmrouter-svm", path)


def test_missing_array(tmp_path, c):
    built = factory.files(
        "llmrouter-mf", {"model_embeddings": np.eye(3), "classifier": np.ones(3)}, embedding=factory.spec()
    )
    with pytest.raises(ArtifactError, match="array 'text_proj' missing"):
        load("llmrouter-mf", factory.write(tmp_path / "a.tar", built))


def test_wrong_embedding_dim(tmp_path, c):
    built = factory.files("llmrouter-routerdc", {"llm_embeddings": c[:, :100]}, embedding=factory.spec())
    with pytest.raises(ArtifactError, match="embedding.dim is 384 but the arrays expect 100"):
        load("llmrouter-routerdc", factory.write(tmp_path / "a.tar", built))


def test_other_embedding_model(tmp_path, c):
    other = fmt.EmbeddingSpec(model="allenai/longformer-base-4096", dim=384)
    built = factory.files("llmrouter-routerdc", {"llm_embeddings": c}, embedding=other)
    with pytest.raises(ArtifactError, match="trained on embedding model 'allenai/longformer-base-4096'"):
        load("llmrouter-routerdc", factory.write(tmp_path / "a.tar", built))


def test_wrong_shape(tmp_path, c):
    built = factory.files("llmrouter-elo", {"ratings": np.ones(2)})
    with pytest.raises(ArtifactError, match=r"array 'ratings' has shape \(2,\); axis 0 must be 3"):
        load("llmrouter-elo", factory.write(tmp_path / "a.tar", built))


def test_labels_out_of_range(tmp_path):
    built = factory.files(
        "llmrouter-knn",
        {"embeddings": np.ones((4, 384)), "labels": np.array([0, 1, 2, 7])},
        {"n_neighbors": 2},
        embedding=factory.spec(),
    )
    with pytest.raises(ArtifactError, match="'labels' must index candidates"):
        load("llmrouter-knn", factory.write(tmp_path / "a.tar", built))


def test_nan_weights(tmp_path, c):
    bad = c.copy()
    bad[0, 0] = np.nan
    built = factory.files("llmrouter-routerdc", {"llm_embeddings": bad}, embedding=factory.spec())
    with pytest.raises(ArtifactError, match="NaN"):
        load("llmrouter-routerdc", factory.write(tmp_path / "a.tar", built))


def test_missing_artifact_for_a_strategy_that_needs_one():
    with pytest.raises(ArtifactError, match="needs a routing artifact"):
        resolve("llmrouter-knn").load(None, None)


def _repack(path, mutate):
    with tarfile.open(path) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    mutate(files)
    return fmt.write_tar(files, path)


def test_other_format_version(tmp_path):
    path = factory.write(tmp_path / "a.tar", factory.elo())

    def bump(files):
        manifest = json.loads(files[fmt.MANIFEST])
        manifest["format_version"] = 99
        files[fmt.MANIFEST] = json.dumps(manifest).encode()

    with pytest.raises(ArtifactError, match="format_version 99 is not supported"):
        load("llmrouter-elo", _repack(path, bump))


def test_bad_checksum(tmp_path):
    path = factory.write(tmp_path / "a.tar", factory.elo())

    def tamper(files):
        buffer = io.BytesIO()
        np.savez(buffer, ratings=np.array([9999.0, 0.0, 0.0]))
        files[fmt.ARRAYS] = buffer.getvalue()

    with pytest.raises(ArtifactError, match="checksum mismatch for arrays.npz"):
        load("llmrouter-elo", _repack(path, tamper))


def test_truncated_tar(tmp_path, embedder):
    path = factory.write(tmp_path / "a.tar", factory.knn(embedder))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="a.tar"):
        load("llmrouter-knn", path)
