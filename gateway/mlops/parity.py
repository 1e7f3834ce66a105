"""The exported artifact through the gateway's own strategy classes vs the library's choices.

Runs in the gateway's environment (numpy only): loads each `<strategy>.tar` the trainer wrote,
routes the held-out queries with their MiniLM vectors (`embeddings_heldout.npy`) among all the
artifact's candidates, and compares with `train_report.json`'s `library_choices`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gateway.routing.artifact import load_artifact
from gateway.routing.base import RoutingRequest
from gateway.routing.registry import StrategySettings, resolve


def load_strategy(path: Path):
    artifact = load_artifact(path)
    return resolve(artifact.strategy).load(artifact, StrategySettings())


def route_all(strategy, queries: Sequence[str], vectors: np.ndarray) -> list[str]:
    """The gateway's choice for every query, all candidates available."""
    available = list(strategy.candidates)

    async def run() -> list[str]:
        out = []
        for query, vector in zip(queries, vectors, strict=True):
            request = RoutingRequest(query=query, vector=np.asarray(vector, dtype=np.float32))
            out.append((await strategy.select(request, available)).model)
        return out

    return asyncio.run(run())


@dataclass(frozen=True)
class Parity:
    strategy: str
    agree: int
    total: int
    mismatches: list[tuple[int, str, str]]  # (row, library, gateway)

    @property
    def rate(self) -> float:
        return self.agree / self.total if self.total else 0.0


def reference_choices(entry: dict) -> list[str]:
    """A `train_report.json` strategy entry's reference routing of the first held-out queries
    (train.MAX_LIBRARY_ROUTED at most): the library's, or for the strategies the gateway trains
    itself, its trainer's."""
    return entry["library_choices"] if "library_choices" in entry else entry["trainer_choices"]


def check(out_dir: Path) -> dict[str, Parity]:
    report = json.loads((out_dir / "train_report.json").read_text())
    vectors = np.load(out_dir / "embeddings_heldout.npy")
    queries = [""] * len(vectors)  # the strategies read the vector; the text is not needed here
    results = {}
    for name, entry in report["strategies"].items():
        library = reference_choices(entry)
        gateway = route_all(load_strategy(Path(entry["artifact"])), queries[:len(library)], vectors[:len(library)])
        mismatches = [(i, a, b) for i, (a, b) in enumerate(zip(library, gateway, strict=True)) if a != b]
        results[name] = Parity(name, len(library) - len(mismatches), len(library), mismatches[:10])
    return results
