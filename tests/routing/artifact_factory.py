"""Valid artifacts for every inference-only strategy, with hand-set parameters whose choices are known.

The embedding-based ones are built on three "centroids": the mean MiniLM embedding of each demo
category (examples/demo/queries.jsonl), so that a general question should go to demo-small, a
coding one to demo-coder and a reasoning one to demo-large.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gateway.routing import artifact as fmt
from gateway.routing.demo import CANDIDATES, QUERIES, build_demo_files, read_queries
from gateway.routing.embedding import MODEL_NAME, MiniLMEmbedder
from gateway.routing.registry import LLMInfo
from gateway.routing.static_embedding import StaticEmbedder

SMALL, CODER, LARGE = CANDIDATES
CATEGORY_MODEL = {"general": SMALL, "code": CODER, "reasoning": LARGE}
LLM_DATA = {
    SMALL: LLMInfo(name=SMALL, size=1.0, input_price=0.05, output_price=0.1),
    CODER: LLMInfo(name=CODER, size=7.0, input_price=0.2, output_price=0.4),
    LARGE: LLMInfo(name=LARGE, size=70.0, input_price=0.9, output_price=1.8),
}


def spec(dim: int = 384) -> fmt.EmbeddingSpec:
    return fmt.EmbeddingSpec(model=MODEL_NAME, dim=dim, max_tokens=256, normalize=True)


def centroids(embedder: MiniLMEmbedder) -> np.ndarray:
    """(3, 384) unit vectors, one per candidate in CANDIDATES order."""
    rows = read_queries(QUERIES)
    vectors = embedder.embed_batch([r["query"] for r in rows])
    out = []
    for model in CANDIDATES:
        picked = [v for v, r in zip(vectors, rows, strict=True) if CATEGORY_MODEL[r["category"]] == model]
        mean = np.mean(picked, axis=0)
        out.append(mean / np.linalg.norm(mean))
    return np.array(out, dtype=np.float32)


def files(
    strategy: str,
    arrays: Mapping[str, np.ndarray],
    params: Mapping[str, Any] | None = None,
    candidates: list[str] | None = None,
    embedding: fmt.EmbeddingSpec | None = None,
) -> dict[str, bytes]:
    return fmt.build_files(
        strategy=strategy,
        version="test-1",
        candidates=list(candidates or CANDIDATES),
        arrays=arrays,
        params=params or {},
        embedding=embedding,
    )


def write(path: Path, built: dict[str, bytes]) -> Path:
    return fmt.write_tar(built, path)


def knn(embedder: MiniLMEmbedder) -> dict[str, bytes]:
    return build_demo_files(QUERIES, embedder)


def svm(c: np.ndarray) -> dict[str, bytes]:
    # One support vector per class, classes_ in sorted-name order (coder, large, small). With
    # dual coefficients +1/-1 and intercept 0, pair (i, j) votes for the closer centroid.
    order = np.array([CANDIDATES.index(n) for n in sorted(CANDIDATES)])
    dual = np.array([[1.0, -1.0, -1.0], [1.0, 1.0, -1.0]])
    return files(
        "llmrouter-svm",
        {
            "support_vectors": c[order],
            "n_support": np.array([1, 1, 1]),
            "dual_coef": dual,
            "intercept": np.zeros(3),
            "classes": order,
        },
        {"kernel": "rbf", "gamma": 1.0},
        embedding=spec(),
    )


def mlp(c: np.ndarray) -> dict[str, bytes]:
    # Hidden units = similarity to each centroid (tanh is monotone), output = identity.
    return files(
        "llmrouter-mlp",
        {
            "weights_0": c.T * 4.0,
            "biases_0": np.zeros(3),
            "weights_1": np.eye(3),
            "biases_1": np.zeros(3),
            "classes": np.array([0, 1, 2]),
        },
        {"activation": "tanh"},
        embedding=spec(),
    )


def mf(c: np.ndarray) -> dict[str, bytes]:
    return files(
        "llmrouter-mf",
        {"model_embeddings": np.eye(3) * 2.0, "text_proj": c, "classifier": np.ones(3)},
        embedding=spec(),
    )


def elo() -> dict[str, bytes]:
    return files("llmrouter-elo", {"ratings": np.array([1000.0, 1100.0, 1250.0])})


def hybrid(c: np.ndarray) -> dict[str, bytes]:
    # score = 0.5 + 5 * (q.c_small - q.c_large): > 0.5 when the query looks general.
    w = (5.0 * (c[0] - c[2]))[:, None]
    return files(
        "llmrouter-hybrid",
        {"weights_0": w, "biases_0": np.array([0.5])},
        {"small_model": SMALL, "large_model": LARGE, "threshold": 0.5, "activation": "relu"},
        candidates=[SMALL, LARGE],
        embedding=spec(),
    )


def graph(c: np.ndarray) -> dict[str, bytes]:
    # Training columns span [-1, 1], so minmax(q) = (q + 1) / 2; the bias cancels the +1/2.
    return files(
        "llmrouter-graph",
        {
            "train_min": -np.ones(c.shape[1]),
            "train_max": np.ones(c.shape[1]),
            "query_weight": c,
            "query_bias": -c.sum(axis=1) / 2.0,
            "llm_states": np.eye(3) * 6.0,
        },
        embedding=spec(),
    )


def routerdc(c: np.ndarray) -> dict[str, bytes]:
    return files(
        "llmrouter-routerdc",
        {"llm_embeddings": c * 3.0},
        {"similarity": "cos", "temperature": 0.05},
        embedding=spec(),
    )


def personalized(c: np.ndarray) -> dict[str, bytes]:
    # Row 0 (default, team "research"): the query third decides (nearest centroid).
    # Row 1 (user "alice"): only the user third counts, and it always favours demo-coder.
    h = 3
    states = np.zeros((2, 3, 3 * h))
    states[0, :, h : 2 * h] = np.eye(3) * 5.0
    states[1, 1, 2 * h :] = 5.0
    return files(
        "llmrouter-personalized",
        {
            "query_weight": c,
            "query_bias": np.zeros(h),
            "task_part": np.zeros(h),
            "user_part": np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]),
            "llm_states": states,
        },
        {"users": {"alice": 1, "research": 0}, "default_user": 0},
        embedding=spec(),
    )


def gmt() -> dict[str, bytes]:
    # h = 4, 2 heads. Zero query weights give uniform attention: out = (v_user + v_llm) / 2.
    # Scorer relu(w1 out) summed: user "u0" prefers demo-small, user "u1" (first unit killed) demo-coder.
    h = 4
    return files(
        "llmrouter-gmt",
        {
            "user_states": np.array([[0.0, 0, 0, 0], [-10.0, 0, 0, 0]]),
            "llm_states": np.array([[2.0, 0, 0, 0], [0.0, 1, 0, 0], [0.0, 0, 0, 0]]),
            "query_state": np.ones(h),
            "attn_in_weight": np.concatenate([np.zeros((h, h)), np.zeros((h, h)), np.eye(h)]),
            "attn_in_bias": np.zeros(3 * h),
            "attn_out_weight": np.eye(h),
            "attn_out_bias": np.zeros(h),
            "scorer_w1": np.array([[1.0, 0, 0, 0], [0.0, 1, 0, 0]]),
            "scorer_b1": np.zeros(2),
            "scorer_w2": np.array([[1.0, 1.0]]),
            "scorer_b2": np.zeros(1),
        },
        {"num_heads": 2, "users": {"u0": 0, "u1": 1}, "fallback_model": LARGE},
    )


def cost_aware(embedder: MiniLMEmbedder) -> dict[str, bytes]:
    return build_demo_files(QUERIES, embedder)


# one fixed grid point per quality predictor: the demo has a few dozen queries
QUALITY_GRIDS = {"knn": ((5, 0.0),), "logistic": ({"l2": 0.01},), "mlp": ({"hidden": 32, "epochs": 200},)}


def quality(embedder: MiniLMEmbedder | StaticEmbedder, kind: str = "knn") -> dict[str, bytes]:
    """A quality router (llmrouter-quality[-logistic|-mlp]) trained by its own trainer on the demo
    queries (prices from LLM_DATA)."""
    from gateway.mlops.dataset import RoutingDataset
    from gateway.mlops.quality_router import train_quality_router

    rows = read_queries(QUERIES)
    performance = np.array([[r["performance"][m] for m in CANDIDATES] for r in rows], dtype=np.float64)
    price = np.array([LLM_DATA[m].input_price + LLM_DATA[m].output_price for m in CANDIDATES])
    dataset = RoutingDataset([r["query"] for r in rows], list(CANDIDATES), performance,
                             np.tile(price, (len(rows), 1)), np.full(performance.shape, np.nan))
    vectors = embedder.embed_batch(dataset.queries)
    carried = embedder if isinstance(embedder, StaticEmbedder) else None
    return train_quality_router(dataset, vectors, encoder=carried, grid=QUALITY_GRIDS[kind], kind=kind).files


def carry_encoder(built: dict[str, bytes], encoder: StaticEmbedder) -> dict[str, bytes]:
    """The same artifact, declaring `encoder` as its embedding and carrying its table and tokenizer."""
    manifest = json.loads(built[fmt.MANIFEST])
    if manifest["embedding"] is None or manifest["embedding"]["model"] == encoder.model_name:
        return built
    with np.load(io.BytesIO(built[fmt.ARRAYS]), allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    return fmt.build_files(
        strategy=manifest["strategy"], version=manifest["version"], candidates=manifest["candidates"],
        arrays={**arrays, **encoder.artifact_arrays()}, params=manifest["params"], metrics=manifest["metrics"],
        embedding=fmt.EmbeddingSpec(model=encoder.model_name, dim=encoder.dim, max_tokens=encoder.max_tokens))


def all_artifacts(embedder: MiniLMEmbedder | StaticEmbedder) -> dict[str, dict[str, bytes]]:
    """strategy name -> artifact files, for every strategy that takes an artifact, on `embedder`'s vectors."""
    c = centroids(embedder)
    built = {
        "llmrouter-knn": knn(embedder),
        "llmrouter-svm": svm(c),
        "llmrouter-mlp": mlp(c),
        "llmrouter-mf": mf(c),
        "llmrouter-elo": elo(),
        "llmrouter-hybrid": hybrid(c),
        "llmrouter-graph": graph(c),
        "llmrouter-routerdc": routerdc(c),
        "llmrouter-personalized": personalized(c),
        "llmrouter-gmt": gmt(),
        "llmrouter-cost-aware": cost_aware(embedder),
        "llmrouter-quality": quality(embedder),
        "llmrouter-quality-logistic": quality(embedder, "logistic"),
        "llmrouter-quality-mlp": quality(embedder, "mlp"),
    }
    if isinstance(embedder, StaticEmbedder):
        built = {name: carry_encoder(files, embedder) for name, files in built.items()}
    return built
