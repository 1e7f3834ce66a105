"""The static encoder: bounded input, its artifact arrays, and the runtime serving it inline."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.errors import ArtifactError
from gateway.routing import artifact as fmt
from gateway.routing.embedding import CHARS_PER_TOKEN_BOUND, MODEL_NAME
from gateway.routing.encoders import encoder_for
from gateway.routing.static_embedding import (
    STATIC_MODEL_NAME,
    TABLE_ARRAY,
    TOKENIZER_ARRAY,
    StaticEmbedder,
    sif_weights,
)

QUERY = "Write a Python function that reverses a list"


@pytest.fixture(scope="module")
def tokenizer_json(embedder) -> str:
    return embedder.tokenizer.to_str()


@pytest.fixture(scope="module")
def small(tokenizer_json) -> StaticEmbedder:
    """A random 8-d table over MiniLM's vocabulary: the mechanics, without a 50 s distillation."""
    vocab = 30522
    return StaticEmbedder(np.random.default_rng(1).normal(size=(vocab, 8)), tokenizer_json, max_tokens=16)


def test_a_query_is_the_normalised_mean_of_its_word_pieces_rows(small):
    ids = small.tokenizer.encode(QUERY, add_special_tokens=False).ids
    expected = small.table[ids].mean(axis=0)
    assert np.allclose(small.embed(QUERY), expected / np.linalg.norm(expected), atol=1e-6)
    assert small.embed(QUERY).dtype == np.float32


def test_a_huge_prompt_is_cut_before_tokenizing(small):
    head = QUERY + " " + "lorem ipsum dolor " * 10
    huge = head + "x" * 10_000_000
    assert small.max_chars < len(head) + 100
    assert np.array_equal(small.embed(huge), small.embed(huge[: small.max_chars]))


def test_minilm_cuts_a_huge_prompt_before_tokenizing_and_keeps_its_first_256_pieces(embedder):
    text = "route this request please " * 2000  # ~50k characters, far over 256 pieces
    assert embedder.max_tokens * CHARS_PER_TOKEN_BOUND < len(text)
    assert np.allclose(embedder.embed(text + "y" * 1_000_000), embedder.embed(text), atol=1e-6)


def test_unknown_word_pieces_are_dropped_and_an_empty_text_is_the_zero_vector(small):
    assert not small.embed("").any()
    assert np.array_equal(small.embed("hello [UNK]"), small.embed("hello"))


def test_the_artifact_arrays_round_trip_in_float16(small, tmp_path):
    arrays = small.artifact_arrays()
    assert arrays[TABLE_ARRAY].dtype == np.float16 and arrays[TOKENIZER_ARRAY].dtype == np.uint8
    files = fmt.build_files(strategy="llmrouter-knn", version="t", candidates=["a", "b"],
                            arrays={"embeddings": np.eye(2, 8, dtype=np.float32), "labels": np.array([0, 1]),
                                    **arrays},
                            embedding=fmt.EmbeddingSpec(model=STATIC_MODEL_NAME, dim=8, max_tokens=16))
    artifact = fmt.load_artifact(fmt.write_tar(files, tmp_path / "a.tar"))
    loaded = encoder_for(artifact)
    assert isinstance(loaded, StaticEmbedder) and loaded.inline
    assert np.array_equal(loaded.embed(QUERY), small.embed(QUERY))


def _artifact(tmp_path, model: str, dim: int, arrays: dict) -> fmt.Artifact:
    files = fmt.build_files(strategy="llmrouter-knn", version="t", candidates=["a"], arrays=arrays,
                            embedding=fmt.EmbeddingSpec(model=model, dim=dim))
    return fmt.load_artifact(fmt.write_dir(files, tmp_path / "art"))


def test_a_static_artifact_without_its_table_names_the_missing_arrays(tmp_path):
    artifact = _artifact(tmp_path, STATIC_MODEL_NAME, 8, {"labels": np.array([0])})
    with pytest.raises(ArtifactError, match=f"needs arrays {TABLE_ARRAY}, {TOKENIZER_ARRAY}"):
        encoder_for(artifact)


def test_a_table_that_does_not_fit_the_tokenizer_is_refused(tmp_path, tokenizer_json):
    arrays = {TABLE_ARRAY: np.zeros((10, 8), np.float16),
              TOKENIZER_ARRAY: np.frombuffer(tokenizer_json.encode(), np.uint8)}
    with pytest.raises(ArtifactError, match="the tokenizer has 30522 tokens, the table 10 rows"):
        encoder_for(_artifact(tmp_path, STATIC_MODEL_NAME, 8, arrays))


def test_tokenizer_bytes_that_are_not_a_tokenizer_are_refused(tmp_path):
    arrays = {TABLE_ARRAY: np.zeros((10, 8), np.float16), TOKENIZER_ARRAY: np.frombuffer(b"{nope", np.uint8)}
    with pytest.raises(ArtifactError, match="is not a tokenizer.json"):
        encoder_for(_artifact(tmp_path, STATIC_MODEL_NAME, 8, arrays))


def test_an_unknown_encoder_names_the_ones_the_gateway_runs(tmp_path):
    with pytest.raises(ArtifactError, match=f"known: {STATIC_MODEL_NAME}, {MODEL_NAME}"):
        encoder_for(_artifact(tmp_path, "longformer-base-4096", 768, {"labels": np.array([0])}))


def test_a_dimension_other_than_the_encoders_is_refused(tmp_path):
    with pytest.raises(ArtifactError, match="embedding.dim is 128 but the all-MiniLM-L6-v2 encoder gives 384"):
        encoder_for(_artifact(tmp_path, MODEL_NAME, 128, {"labels": np.array([0])}))


def test_sif_weights_follow_model2vec():
    weights = sif_weights(4, 1e-4)
    proba = (1 / np.arange(2, 6)) / (1 / np.arange(2, 6)).sum()
    assert np.allclose(weights, 1e-4 / (1e-4 + proba))
    assert np.all(np.diff(weights) > 0)  # rarer (later) tokens weigh more


async def test_the_runtime_serves_the_demo_with_its_own_static_encoder_inline(tmp_path, demo_artifact, monkeypatch):
    import asyncio

    from gateway.config.loader import load_config
    from gateway.routing.runtime import RoutingRuntime
    from tests.helpers import knn_config, write_config

    runtime = RoutingRuntime.from_config(load_config(write_config(tmp_path, knn_config(demo_artifact))))
    assert isinstance(runtime.active.encoder, StaticEmbedder) and runtime.embedder is None

    async def no_thread(*args, **kwargs):  # the static table must not take the worker-thread hop
        raise AssertionError("asyncio.to_thread called for an inline encoder")

    monkeypatch.setattr(asyncio, "to_thread", no_thread)
    deployments = [{"model_name": "auto", "litellm_params": {"model": f"openai/{name}"}}
                   for name in ("demo-small", "demo-coder", "demo-large")]
    chosen = await runtime.choose("auto", deployments, [{"role": "user", "content": QUERY}])
    assert chosen["litellm_params"]["model"] == "openai/demo-coder"
