from __future__ import annotations

import os

# OpenBLAS threads fight each other on a busy 2-core machine (10x slower); one thread is fastest here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402

from gateway.routing.embedding import MiniLMEmbedder  # noqa: E402


@pytest.fixture(scope="session")
def embedder() -> MiniLMEmbedder:
    """One loaded embedder for the whole session (loading takes ~0.3 s)."""
    return MiniLMEmbedder().load()


@pytest.fixture(scope="session")
def artifacts(embedder, tmp_path_factory):
    """strategy name -> path of a packed artifact from the factory."""
    from gateway.routing import artifact as fmt
    from tests.routing import artifact_factory

    root = tmp_path_factory.mktemp("artifacts")
    return {
        name: fmt.write_tar(built, root / f"{name}.tar")
        for name, built in artifact_factory.all_artifacts(embedder).items()
    }
