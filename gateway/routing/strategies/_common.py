"""Shared checks and selection rules for the inference-only strategies.

Every strategy validates its artifact with these helpers so that a bad artifact fails at load
time (never at request time) with an ArtifactError naming the artifact, the array and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from gateway.errors import ArtifactError, ConfigError, RoutingError
from gateway.routing.artifact import Artifact
from gateway.routing.base import Decision, RoutingStrategy
from gateway.routing.registry import StrategySettings

ARGS_KEY = "router_settings.routing_strategy_args"


def check_artifact(artifact: Artifact | None, name: str) -> Artifact:
    """The artifact exists, is for strategy `name`, and lists unique candidates."""
    if artifact is None:
        raise ArtifactError(f"strategy {name} needs a routing artifact (set routing_artifact)")
    where = artifact.source or "<artifact>"
    if artifact.strategy != name:
        raise ArtifactError(f"{where}: artifact is for strategy '{artifact.strategy}', not '{name}'")
    if not artifact.candidates:
        raise ArtifactError(f"{where}: artifact lists no candidates")
    if len(set(artifact.candidates)) != len(artifact.candidates):
        raise ArtifactError(f"{where}: duplicate candidate names in {list(artifact.candidates)}")
    return artifact


def check_embedding(artifact: Artifact, dim: int) -> None:
    """The artifact names an encoder the gateway runs (`encoders.KNOWN_MODELS`), normalised, of `dim`."""
    from gateway.routing.encoders import KNOWN_MODELS

    where = artifact.source or "<artifact>"
    spec = artifact.embedding
    if spec is None:
        raise ArtifactError(
            f"{where}: manifest has no 'embedding' spec; strategy {artifact.strategy} needs one"
        )
    if spec.model not in KNOWN_MODELS:
        raise ArtifactError(
            f"{where}: trained on embedding model '{spec.model}', which the gateway does not run; "
            f"retrain on one of {', '.join(KNOWN_MODELS)}"
        )
    if not spec.normalize:
        raise ArtifactError(
            f"{where}: embedding.normalize is false; the gateway's embeddings are L2-normalised"
        )
    if spec.dim != dim:
        raise ArtifactError(f"{where}: embedding.dim is {spec.dim} but the arrays expect {dim}")


def array(
    artifact: Artifact,
    name: str,
    ndim: int,
    shape: Sequence[int | None] | None = None,
    kind: str = "f",
    dtype: Any = np.float32,
) -> np.ndarray:
    """A required array with `ndim` dimensions, the given sizes (None = any) and numeric kind."""
    value = artifact.array(name)
    where = artifact.source or "<artifact>"
    if value.ndim != ndim:
        raise ArtifactError(f"{where}: array '{name}' has shape {value.shape}, expected {ndim} dimensions")
    if shape is not None:
        for axis, (got, want) in enumerate(zip(value.shape, shape, strict=True)):
            if want is not None and got != want:
                raise ArtifactError(
                    f"{where}: array '{name}' has shape {value.shape}; axis {axis} must be {want}"
                )
    if value.dtype.kind not in kind:
        raise ArtifactError(f"{where}: array '{name}' has dtype {value.dtype}, expected kind '{kind}'")
    if value.dtype.kind == "f" and not np.all(np.isfinite(value)) and name not in _NAN_ALLOWED:
        raise ArtifactError(f"{where}: array '{name}' contains NaN or infinite values")
    return np.ascontiguousarray(value, dtype=dtype)


# Arrays where NaN means "no observation" rather than corruption.
_NAN_ALLOWED = {"performance"}


def optional_array(artifact: Artifact, name: str, ndim: int, shape: Sequence[int | None] | None = None):
    return array(artifact, name, ndim, shape) if name in artifact.arrays else None


def param(artifact: Artifact, key: str, default: Any = None, choices: Iterable[Any] | None = None) -> Any:
    """A manifest param, checked against `choices` when given."""
    value = artifact.params.get(key, default)
    if value is None:
        raise ArtifactError(f"{artifact.source or '<artifact>'}: params.{key} is required")
    if choices is not None and value not in set(choices):
        raise ArtifactError(
            f"{artifact.source or '<artifact>'}: params.{key} is {value!r}; "
            f"valid: {sorted(map(str, choices))}"
        )
    return value


def args(settings: StrategySettings | None, name: str, allowed: Mapping[str, Any]) -> dict[str, Any]:
    """`routing_strategy_args` merged over `allowed` defaults; unknown keys are errors."""
    given = dict(settings.args) if settings is not None else {}
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(
            "<config>",
            f"{ARGS_KEY}.{unknown[0]}",
            f"not a setting of {name}; valid: {', '.join(sorted(allowed)) or 'none'}",
        )
    return {**allowed, **given}


def float_arg(values: Mapping[str, Any], key: str, minimum: float | None = None) -> float:
    value = values[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError("<config>", f"{ARGS_KEY}.{key}", f"value {value!r} is not a number") from None
    if minimum is not None and number < minimum:
        raise ConfigError("<config>", f"{ARGS_KEY}.{key}", f"value {number} must be >= {minimum}")
    return number


def query_vector(request: Any, dim: int) -> np.ndarray:
    """The request's embedding as float32[dim], or a RoutingError saying what is wrong."""
    vector = np.asarray(request.embedding(), dtype=np.float32).reshape(-1)
    if vector.shape[0] != dim:
        raise RoutingError(f"query embedding has {vector.shape[0]} dimensions, the artifact expects {dim}")
    return vector


def available_mask(candidates: Sequence[str], available: Sequence[str]) -> np.ndarray:
    """Boolean mask over `candidates`; a RoutingError when none of them is available."""
    allowed = set(available)
    mask = np.fromiter((c in allowed for c in candidates), dtype=bool, count=len(candidates))
    if not mask.any():
        raise RoutingError(
            f"none of the strategy's candidates {list(candidates)} is available "
            f"(available: {list(available)})"
        )
    return mask


def best_available(scores: np.ndarray, mask: np.ndarray, order: np.ndarray | None = None) -> int:
    """Index of the highest score among available candidates.

    Ties go to the first index (numpy's argmax rule), or to the first in `order` when given
    (a permutation used to mirror a library's own tie rule, e.g. sklearn's sorted classes).
    """
    masked = np.where(mask, scores, -np.inf)
    if order is not None:
        ranked = masked[order]
        return int(order[int(np.argmax(ranked))])
    return int(np.argmax(masked))


def decision(
    candidates: Sequence[str],
    scores: np.ndarray,
    chosen: int,
    mask: np.ndarray,
    top: int | None = None,
    **detail: Any,
) -> Decision:
    """A Decision with every candidate's score; `fallback_from` names an unavailable top choice."""
    if top is None:
        top = int(np.argmax(np.where(np.isfinite(scores), scores, -np.inf)))
    detail = {k: v for k, v in detail.items() if v is not None}
    if top != chosen:
        detail["fallback_from"] = candidates[top]
    unavailable = [c for c, ok in zip(candidates, mask, strict=True) if not ok]
    if unavailable:
        detail["unavailable"] = unavailable
    return Decision(
        model=candidates[chosen],
        scores={c: float(s) for c, s in zip(candidates, scores, strict=True) if np.isfinite(s)},
        detail=detail,
    )


def name_order(candidates: Sequence[str]) -> np.ndarray:
    """Indices of `candidates` in sorted-name order (sklearn's `classes_` order)."""
    return np.array(sorted(range(len(candidates)), key=lambda i: candidates[i]), dtype=np.int64)


class StrategyBase(RoutingStrategy):
    """Holds the candidate list and the artifact's identity (for logs); subclasses add the math."""

    def __init__(self, candidates: Sequence[str], artifact: Artifact | None = None):
        self._candidates = tuple(candidates)
        self.artifact_version = artifact.version if artifact is not None else ""
        self.artifact_sha256 = artifact.sha256 if artifact is not None else ""

    @property
    def candidates(self) -> Sequence[str]:
        return self._candidates

    @classmethod
    def load(cls, artifact: Artifact | None, settings: StrategySettings | None = None):
        """The common case: a strategy built from its artifact alone, with no arguments of its own,
        checked against the encoder its vectors come from. Strategies with arguments override it."""
        artifact = check_artifact(artifact, cls.name)
        args(settings, cls.name, {})
        strategy = cls(artifact)
        if cls.needs_embedding:
            check_embedding(artifact, strategy.dim)
        return strategy


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "logistic": sigmoid,
    "identity": lambda x: x,
}


def mlp_layers(artifact: Artifact, in_dim: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """`weights_0..N` (in, out) and `biases_0..N` (out,) as in sklearn's coefs_/intercepts_, chained."""
    where = artifact.source or "<artifact>"
    count = sum(1 for key in artifact.arrays if key.startswith("weights_"))
    if count == 0:
        raise ArtifactError(f"{where}: array 'weights_0' missing for strategy {artifact.strategy}")
    layers = []
    prev = in_dim
    for i in range(count):
        w = array(artifact, f"weights_{i}", 2, (prev, None), dtype=np.float64)
        b = array(artifact, f"biases_{i}", 1, (w.shape[1],), dtype=np.float64)
        layers.append((w, b))
        prev = w.shape[1]
    return layers


def mlp_forward(layers: list[tuple[np.ndarray, np.ndarray]], activation, x: np.ndarray) -> np.ndarray:
    """Hidden layers with `activation`, the last one linear (logits / regression output)."""
    for w, b in layers[:-1]:
        x = activation(x @ w + b)
    w, b = layers[-1]
    return x @ w + b


IDENTITIES = ("user", "team", "user_or_team")


def identity_arg(settings: StrategySettings | None, name: str) -> str:
    """The `identity` arg of a per-user strategy: whose row a request reads (one of IDENTITIES)."""
    value = args(settings, name, {"identity": "user_or_team"})["identity"]
    if value not in IDENTITIES:
        raise ConfigError(
            "<config>", f"{ARGS_KEY}.identity", f"value {value!r} is not one of {', '.join(IDENTITIES)}"
        )
    return value


def users_param(artifact: Artifact, count: int) -> dict[str, int]:
    """params.users: {user or team name: row index}; indices must be < `count`."""
    users = artifact.params.get("users", {})
    where = artifact.source or "<artifact>"
    if not isinstance(users, dict) or not all(isinstance(v, int) and 0 <= v < count for v in users.values()):
        raise ArtifactError(f"{where}: params.users must map names to row indices 0..{count - 1}")
    return {str(k): int(v) for k, v in users.items()}


def resolve_user(request: Any, users: Mapping[str, int], identity: str) -> tuple[int | None, str]:
    """The row of the asking user (or team), per `identity`; (None, "unknown") when not mapped."""
    if identity in ("user", "user_or_team") and request.user is not None and request.user in users:
        return users[request.user], f"user:{request.user}"
    if identity in ("team", "user_or_team") and request.team is not None and request.team in users:
        return users[request.team], f"team:{request.team}"
    return None, "unknown"
