"""What a strategy declares about itself besides its math: its artifact's arrays and how it is trained.

A strategy class carries these next to its reader (`arrays`, `training` class attributes on
`RoutingStrategy`); the registry, the training driver, the exporter, the tuner and the make
targets all read them from there, so a strategy is declared once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrainingSpec:
    """How llmrouter-lib trains this strategy and how its trained objects become an artifact.

    Read only in the training environment (gateway.mlops), where llmrouter-lib is installed.
    """

    #: llmrouter-lib module holding the router and its trainer
    library_module: str
    router_class: str
    trainer_class: str
    #: the library's hyperparameters the gateway trains with unless told otherwise
    hparams: Mapping[str, Any] = field(default_factory=dict)
    #: "module:function" turning the trained router into (candidates, arrays, params, needs_embedding)
    exporter: str = ""
    #: (hyperparameter, values) searched by cross-validation (gateway.mlops.tune); None: nothing to tune
    tune: tuple[str, tuple] | None = None
    #: the library saves its model as this file type (".pkl" or ".pt")
    model_suffix: str = ".pkl"
    #: train on standardised query vectors ((x - mean) / std over the training vectors); the export
    #: folds that affine map into the first layer (`weights_0`, `biases_0`), so the artifact and its
    #: reader are unchanged and the gateway feeds it the encoder's raw vectors
    standardize: bool = False
    #: train this many networks from consecutive seeds and serve the mean of their logits as one
    #: wider network (gateway.mlops.mlp_ensemble; MLPRouter only): less seed-to-seed variance
    ensemble: int = 1


def array_pattern(names: Sequence[str]) -> re.Pattern[str]:
    """One regex for declared array names, where `{i}` stands for a layer index (`weights_{i}`)."""
    parts = [re.escape(name).replace(re.escape("{i}"), r"\d+") for name in names]
    return re.compile("|".join(parts) or r"(?!)")


def undeclared_arrays(declared: Sequence[str], exported: Mapping[str, Any]) -> list[str]:
    """Exported array names the strategy does not declare (an exporter and its reader disagree)."""
    pattern = array_pattern(declared)
    return sorted(name for name in exported if not pattern.fullmatch(name))
