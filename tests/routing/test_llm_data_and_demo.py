"""LLMRouter's model list parses into LLMInfo; the demo artifact builds and routes its own data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.routing.artifact import load_artifact
from gateway.routing.demo import CANDIDATES, DEMO_DIR, build_demo_artifact, read_queries
from gateway.routing.encoders import encoder_for
from gateway.routing.llm_data import load_llm_data, parse_size
from gateway.routing.static_embedding import STATIC_MODEL_NAME
from gateway.routing.strategies.knn import KNNStrategy


@pytest.mark.parametrize(
    ("text", "billions"),
    [("7B", 7.0), ("0.5b", 0.5), ("512M", 0.512), ("1.5T", 1500.0), ("70", 70.0), (13, 13.0)],
)
def test_parse_size(text, billions):
    assert parse_size(text) == pytest.approx(billions)


def test_demo_llm_data_loads():
    data = load_llm_data(DEMO_DIR / "llm_data.json")
    assert list(data) == CANDIDATES
    assert data["demo-large"].size == 70.0 and data["demo-small"].input_price == 0.05


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"size": "big"}, "m.size"),
        ({"input_price": "x"}, "m.input_price"),
        ({"sise": "7B"}, "m.sise"),
        ({"output_price": -1}, "m.output_price"),
    ],
)
def test_bad_llm_data_names_the_key(tmp_path, entry, key):
    path = tmp_path / "llm.json"
    path.write_text(json.dumps({"m": entry}))
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as info:
        load_llm_data(path)
    assert info.value.source == str(path)


def test_demo_artifact_builds_and_routes_its_training_queries(tmp_path):
    path = build_demo_artifact(tmp_path / "demo.tar")
    artifact = load_artifact(path)
    assert artifact.strategy == "llmrouter-knn" and list(artifact.candidates) == CANDIDATES
    assert artifact.embedding.model == STATIC_MODEL_NAME and artifact.embedding.dim == 256
    strategy = KNNStrategy.load(artifact)
    rows = read_queries()
    vectors = encoder_for(artifact).embed_batch([r["query"] for r in rows])
    hits = sum(
        strategy.select_vector(v, CANDIDATES).model == max(r["performance"], key=r["performance"].get)
        for v, r in zip(vectors, rows, strict=True)
    )
    assert hits / len(rows) > 0.85  # 65/72 with k=5 (leave-in, not leave-one-out)
    # the static encoder travels in the artifact: 30,522 x 256 float16 (15.6 MB) + tokenizer + 72 rows
    assert Path(path).stat().st_size < 17_000_000
