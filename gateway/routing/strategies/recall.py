"""Recall: a query the router was trained on is routed by what was observed for it.

A quality router predicts each model's quality from the query's vector; for a query it has seen in
training that prediction is a guess where the training data holds the answer. Gateways see the
same prompts again (templates, retries, evaluation suites), so the quality routers keep the
observed quality row of every training query, keyed by a hash of its text, and use it in place of
the prediction for that query (unobserved cells keep the prediction). Equal observed quality then
goes to the cheaper model, at the operator's dial like any other decision.

The artifact stores no prompt text: only the first 16 bytes of the SHA-256 of each training query
(stripped), next to its quality row. A hash of a short, guessable prompt can be confirmed by
someone holding the artifact; the artifact is protected like the training data it comes from.
`recall_seen: false` in `routing_strategy_args` turns recall off without retraining. Texts longer
than MAX_RECALL_CHARS are neither stored nor looked up, so a huge prompt costs no hashing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact

KEYS, QUALITY = "recall_keys", "recall_quality"
KEY_BYTES = 16
MAX_RECALL_CHARS = 65536


def recall_key(text: str) -> bytes | None:
    """The lookup key of a query text, or None for an empty or oversized one."""
    text = text.strip()
    if not text or len(text) > MAX_RECALL_CHARS:
        return None
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:KEY_BYTES]


def recall_arrays(queries: Sequence[str], quality: np.ndarray) -> dict[str, np.ndarray]:
    """The artifact's recall arrays for training `queries` and their `quality` rows (NaN: not
    observed); a query seen several times keeps the mean of its observations."""
    rows: dict[bytes, list[int]] = {}
    for i, query in enumerate(queries):
        key = recall_key(query)
        if key is not None:
            rows.setdefault(key, []).append(i)
    keys = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), KEY_BYTES)
    means = np.empty((len(rows), quality.shape[1]), dtype=np.float32)
    for r, members in enumerate(rows.values()):
        observed = np.isfinite(quality[members])
        total = np.where(observed, quality[members], 0.0).sum(axis=0)
        counts = observed.sum(axis=0)
        means[r] = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
    return {KEYS: keys, QUALITY: means}


class Recall:
    """The training queries' observed quality rows, looked up by text."""

    def __init__(self, keys: np.ndarray | None = None, quality: np.ndarray | None = None):
        self.rows: dict[bytes, np.ndarray] = {}
        if keys is not None and quality is not None:
            self.rows = {bytes(k): q.astype(np.float64) for k, q in zip(keys, quality, strict=True)}

    @classmethod
    def from_artifact(cls, artifact: Artifact, candidates: int) -> Recall:
        """The artifact's recall arrays, checked; none (an older artifact) recalls nothing."""
        if KEYS not in artifact.arrays and QUALITY not in artifact.arrays:
            return cls()
        where = artifact.source or "<artifact>"
        keys, quality = artifact.array(KEYS), artifact.array(QUALITY)
        if keys.dtype != np.uint8 or keys.ndim != 2 or keys.shape[1] != KEY_BYTES:
            raise ArtifactError(f"{where}: array '{KEYS}' must be uint8 of shape (n, {KEY_BYTES}), "
                                f"not {keys.dtype} {keys.shape}")
        if quality.dtype.kind != "f" or quality.shape != (len(keys), candidates):
            raise ArtifactError(f"{where}: array '{QUALITY}' must be float of shape ({len(keys)}, {candidates}), "
                                f"not {quality.dtype} {quality.shape}")
        return cls(keys, quality)

    def __len__(self) -> int:
        return len(self.rows)

    def lookup(self, text: str) -> np.ndarray | None:
        """The observed quality row of `text` (NaN where not observed), or None if not a training query."""
        if not self.rows:
            return None
        key = recall_key(text)
        return None if key is None else self.rows.get(key)

    def apply(self, queries: Sequence[str], predicted: np.ndarray) -> np.ndarray:
        """`predicted` (a row per query), with each training query's observed cells in place."""
        if not self.rows:
            return predicted
        return np.stack([with_recalled(row, self.lookup(q)) for q, row in zip(queries, predicted, strict=True)])


def with_recalled(predicted: np.ndarray, recalled: np.ndarray | None) -> np.ndarray:
    """The prediction, with every observed cell of the recalled row in its place."""
    if recalled is None:
        return predicted
    return np.where(np.isnan(recalled), predicted, recalled)
