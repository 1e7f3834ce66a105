"""Small builders shared by tests: configs written to disk, artifacts with known content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEMO_DIR = Path(__file__).resolve().parents[1] / "examples" / "demo"
DEMO_MODELS = ("demo-small", "demo-coder", "demo-large")


def deployments(group: str, names: tuple[str, ...], api_base: str | None = None) -> list[dict[str, Any]]:
    """One OpenAI-protocol deployment per name; on the fake upstream when api_base is given."""
    out = []
    for name in names:
        params: dict[str, Any] = {"model": f"openai/{name}", "api_key": "not-used"}
        if api_base:
            params["api_base"] = api_base
        else:
            params["mock_response"] = f"mock answer from {name}"
        out.append({"model_name": group, "litellm_params": params})
    return out


def write_config(directory: Path, data: dict[str, Any], name: str = "config.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def knn_config(artifact: Path, api_base: str | None = None, **router_settings: Any) -> dict[str, Any]:
    """The demo's routing (llmrouter-knn over the three demo models) as a config mapping."""
    settings = {
        "routing_strategy": "llmrouter-knn",
        "routing_strategy_args": {"model_path": str(artifact), "llm_data_path": str(DEMO_DIR / "llm_data.json")},
    }
    settings.update(router_settings)
    return {
        "model_list": deployments("auto", DEMO_MODELS, api_base),
        "router_settings": settings,
        "general_settings": {"master_key": "sk-test"},
    }


def constant_knn(path: Path, prefer: str, version: str, candidates: tuple[str, ...] = DEMO_MODELS) -> Path:
    """A valid llmrouter-knn artifact whose every neighbour votes for `prefer`."""
    import numpy as np

    from gateway.routing import artifact as fmt

    rng = np.random.default_rng(len(version))
    embeddings = rng.normal(size=(6, 384)).astype(np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    labels = np.full(6, candidates.index(prefer), dtype=np.int64)
    files = fmt.build_files(
        strategy="llmrouter-knn", version=version, candidates=list(candidates),
        arrays={"embeddings": embeddings, "labels": labels}, params={"n_neighbors": 3},
        embedding=fmt.EmbeddingSpec(),
    )
    return fmt.write_tar(files, path)


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy (returned) or `timeout` passes (None)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None
