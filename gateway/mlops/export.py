"""Trained llmrouter-lib objects -> the gateway's routing artifact (manifest + arrays, no pickle).

Runs in the training environment. Each exporter reads exactly the library attributes that
docs/routing.md maps to the artifact's arrays, so the gateway's strategy picks what the library's
`route_single` picks (tests/mlops/test_parity.py measures it on held-out queries).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing import artifact as fmt
from gateway.routing.registry import trainable
from gateway.routing.spec import undeclared_arrays


def _files(strategy: str, version: str, candidates: list[str], arrays: dict[str, Any], params: dict[str, Any],
           metrics: dict[str, Any], encoder=None, embedding: bool = True) -> dict[str, bytes]:
    """`encoder`: the StaticEmbedder the router was trained on (carried in the artifact), or None for MiniLM."""
    spec = None
    if embedding and encoder is None:
        spec = fmt.EmbeddingSpec()
    elif embedding:
        spec = fmt.EmbeddingSpec(model=encoder.model_name, dim=encoder.dim, max_tokens=encoder.max_tokens)
        arrays = {**arrays, **encoder.artifact_arrays()}
    return fmt.build_files(strategy=f"llmrouter-{strategy}", version=version, candidates=candidates,
                           arrays=arrays, params=params, metrics=metrics, embedding=spec)


def export_knn(router, trainer, candidates: list[str]) -> tuple[list[str], dict, dict, bool]:
    knn = trainer.model
    names = knn.classes_[knn._y]
    labels = np.array([candidates.index(str(n)) for n in names], dtype=np.int64)
    params = {"n_neighbors": int(knn.n_neighbors), "weights": str(knn.weights), "metric": str(knn.metric),
              "p": float(knn.p or 2)}
    return candidates, {"embeddings": np.asarray(knn._fit_X, dtype=np.float32), "labels": labels}, params, True


def export_svm(router, trainer, candidates):
    svc = trainer.model
    classes = np.array([candidates.index(str(c)) for c in svc.classes_], dtype=np.int64)
    arrays = {"support_vectors": svc.support_vectors_, "n_support": svc.n_support_.astype(np.int64),
              "dual_coef": svc.dual_coef_, "intercept": svc.intercept_, "classes": classes}
    params = {"kernel": svc.kernel, "gamma": float(svc._gamma), "coef0": float(svc.coef0), "degree": int(svc.degree)}
    return candidates, arrays, params, True


def export_mlp(router, trainer, candidates):
    state = {k: v.detach().cpu().numpy() for k, v in trainer.model.state_dict().items()}
    layers = sorted({int(k.split(".")[1]) for k in state})
    arrays: dict[str, np.ndarray] = {}
    for i in layers:
        arrays[f"weights_{i}"] = state[f"layers.{i}.weight"].T.copy()
        arrays[f"biases_{i}"] = state[f"layers.{i}.bias"]
    arrays["classes"] = np.array([candidates.index(router.idx_to_model[i]) for i in range(router.num_classes)],
                                 dtype=np.int64)
    return candidates, arrays, {"activation": router.hparam.get("activation", "relu")}, True


def export_mf(router, trainer, candidates):
    state = {k: v.detach().cpu().numpy() for k, v in trainer.model.state_dict().items()}
    order = [router.idx_to_model[i] for i in range(len(router.idx_to_model))]
    arrays = {"model_embeddings": state["P.weight"], "text_proj": state["text_proj.weight"],
              "classifier": state["classifier.weight"][0]}
    return order, arrays, {}, True


def export_elo(router, trainer, candidates):
    from llmrouter.utils import load_model

    series = load_model(trainer.save_model_path)
    return [str(n) for n in series.index], {"ratings": np.asarray(series.values, dtype=np.float64)}, {}, False


def export_hybrid(router, trainer, candidates):
    reg = trainer.model
    arrays = {}
    for i, (w, b) in enumerate(zip(reg.coefs_, reg.intercepts_, strict=True)):
        arrays[f"weights_{i}"], arrays[f"biases_{i}"] = w, b
    params = {"activation": reg.activation, "small_model": router.small_model_name,
              "large_model": router.large_model_name, "threshold": float(router.router_threshold)}
    return [router.small_model_name, router.large_model_name], arrays, params, True


def export_graph(router, trainer, candidates):
    """LLM node states are independent of the query being routed (eval mode, only training edges
    visible): capture them from one library forward pass and store them (docs/routing.md)."""
    import torch

    model = router.gnn_predictor.model
    model.load_state_dict(torch.load(router._get_model_path("load_model_path"), map_location="cpu"))
    captured: dict[str, torch.Tensor] = {}
    hook = model.bn2.register_forward_hook(lambda m, i, out: captured.__setitem__("x", out.detach()))
    try:
        router.route_single({"query": "export probe"})
    finally:
        hook.remove()
    n_llm = router.num_llms
    x = captured["x"].cpu().numpy()
    qt = model.model_align.query_transform
    train = np.asarray(router.query_embedding_list, dtype=np.float64)
    arrays = {"train_min": train.min(axis=0), "train_max": train.max(axis=0),
              "query_weight": qt.weight.detach().cpu().numpy(), "query_bias": qt.bias.detach().cpu().numpy(),
              "llm_states": x[-n_llm:]}
    return list(router.model_names), arrays, {}, True


def fold_standardization(arrays: dict[str, np.ndarray], mean: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    """A first layer trained on `(x - mean) / scale`, rewritten to take `x` itself:
    `((x - mean) / scale) @ W + b == x @ (W / scale[:, None]) + (b - (mean / scale) @ W)`.
    float64, so the fold adds no rounding the library's float32 forward pass would not see."""
    w = np.asarray(arrays["weights_0"], dtype=np.float64)
    b = np.asarray(arrays["biases_0"], dtype=np.float64)
    if w.shape[0] != mean.shape[0] or mean.shape != scale.shape:
        raise ArtifactError(f"standardisation of {mean.shape[0]} inputs does not fit weights_0 {w.shape}")
    mean, scale = np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
    return {**arrays, "weights_0": w / scale[:, None], "biases_0": b - (mean / scale) @ w}


def exporter_of(cls: type) -> Callable[..., tuple[list[str], dict, dict, bool]]:
    """The export function a strategy's `training.exporter` names ("module:function")."""
    module, _, function = cls.training.exporter.partition(":")
    return getattr(importlib.import_module(module), function)


def export(strategy: str, router, trainer, candidates: list[str], version: str, metrics: dict,
           encoder=None, scaling: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, bytes]:
    """The artifact's files for a trained `strategy` ("knn"); its arrays must be the ones the
    gateway's strategy declares (`arrays`), so an exporter and its reader cannot drift apart.
    `scaling` (mean, scale): the library trained on standardised vectors (`training.standardize`)."""
    cls = trainable()[strategy]
    names, arrays, params, needs_embedding = exporter_of(cls)(router, trainer, list(candidates))
    if scaling is not None:
        arrays = fold_standardization(arrays, *scaling)
    undeclared = undeclared_arrays(cls.arrays, arrays)
    if undeclared:
        raise ArtifactError(f"export of {cls.name}: arrays {undeclared} are not declared by {cls.__name__}.arrays "
                            f"{list(cls.arrays)}")
    return _files(strategy, version, names, arrays, params, metrics, encoder, embedding=needs_embedding)
