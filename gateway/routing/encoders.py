"""Which query encoder an artifact was trained on, and the one the gateway runs for it.

The artifact's `embedding.model` decides: `all-MiniLM-L6-v2` (the transformer, ~11 ms a query,
weights from the installed model package, shared by every artifact that names it) or
`static-all-MiniLM-L6-v2` (a distilled static table carried inside the artifact, ~0.03 ms).
An encoder is bound to the strategy it serves, so a hot reload swaps both together.
"""

from __future__ import annotations

import functools
from typing import Protocol

import numpy as np

from gateway.errors import ArtifactError
from gateway.routing.artifact import Artifact
from gateway.routing.embedding import MODEL_NAME, MiniLMEmbedder
from gateway.routing.static_embedding import STATIC_MODEL_NAME, StaticEmbedder

KNOWN_MODELS = (STATIC_MODEL_NAME, MODEL_NAME)


class Encoder(Protocol):
    dim: int
    #: True when encoding is cheaper than handing the work to a thread (the static table)
    inline: bool

    def embed(self, text: str) -> np.ndarray: ...


@functools.lru_cache(maxsize=4)
def _shared_minilm(max_tokens: int) -> MiniLMEmbedder:
    """One MiniLM per token limit for the process: its weights are 90 MB and read-only."""
    return MiniLMEmbedder(max_tokens=max_tokens).load()


def encoder_for(artifact: Artifact) -> Encoder:
    """The loaded encoder `artifact.embedding` names, or an ArtifactError naming what is wrong."""
    where = artifact.source or "<artifact>"
    spec = artifact.embedding
    if spec is None:
        raise ArtifactError(f"{where}: manifest has no 'embedding' spec; strategy {artifact.strategy} needs one")
    if spec.model == STATIC_MODEL_NAME:
        encoder: Encoder = StaticEmbedder.from_arrays(artifact.arrays, spec.max_tokens, where)
    elif spec.model == MODEL_NAME:
        encoder = _shared_minilm(spec.max_tokens)
    else:
        raise ArtifactError(f"{where}: trained on embedding model '{spec.model}', which this gateway does not "
                            f"run; known: {', '.join(KNOWN_MODELS)}")
    if encoder.dim != spec.dim:
        raise ArtifactError(f"{where}: embedding.dim is {spec.dim} but the {spec.model} encoder gives {encoder.dim}")
    return encoder
