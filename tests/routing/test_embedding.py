"""The numpy MiniLM matches transformers' BertModel + mean pooling (fixtures/reference_embeddings.json)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from gateway.errors import ArtifactError
from gateway.routing.embedding import MiniLMEmbedder

REFERENCE = json.loads((Path(__file__).parent / "fixtures" / "reference_embeddings.json").read_text())


def test_embeddings_match_transformers_reference(embedder):
    rows = REFERENCE["rows"]
    got = embedder.embed_batch([r["text"] for r in rows])
    for row, vector in zip(rows, got, strict=True):
        ref = np.array(row["embedding"])
        assert vector.dtype == np.float32 and vector.shape == (384,)
        cosine = float(ref @ vector / (np.linalg.norm(ref) * np.linalg.norm(vector)))
        assert cosine > 0.9999, row["text"][:40]
        assert np.abs(ref - vector).max() < 1e-4, row["text"][:40]


def test_long_queries_are_truncated_at_max_tokens(embedder):
    long_row = next(r for r in REFERENCE["rows"] if r["tokens"] == 256)
    assert len(embedder.tokenizer.encode(long_row["text"]).ids) == 256
    extended = embedder.embed(long_row["text"] + " and much more text that is ignored" * 20)
    np.testing.assert_allclose(extended, embedder.embed(long_row["text"]), atol=1e-6)


def test_batch_padding_does_not_change_vectors(embedder):
    texts = ["short", "a considerably longer sentence with many more word pieces in it", ""]
    batch = embedder.embed_batch(texts)
    for text, vector in zip(texts, batch, strict=True):
        np.testing.assert_allclose(vector, embedder.embed(text), atol=1e-6)
    assert embedder.embed_batch([]).shape == (0, 384)


def test_concurrent_first_use_loads_once_and_agrees():
    fresh = MiniLMEmbedder()
    results: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: results.append(fresh.embed("same text"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.array_equal(results[0], r) for r in results)


def test_missing_model_files_are_an_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="model.safetensors"):
        MiniLMEmbedder(model_dir=tmp_path).load()


def test_max_tokens_out_of_range_is_an_artifact_error():
    with pytest.raises(ArtifactError, match="max_tokens=1000"):
        MiniLMEmbedder(max_tokens=1000).load()
