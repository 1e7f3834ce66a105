"""llmrouter-lib's own route_single vs the exported artifact through the gateway's strategy classes,
on held-out queries of the public LLMRouter data (../shared/data/llmrouter). Needs the training
environment (`make training-env`); without it these tests FAIL, they do not skip."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gateway.mlops import parity
from gateway.mlops.dataset import ScoreWeights, write_training_dir
from gateway.mlops.pipeline import TRAINING_PYTHON
from gateway.mlops.public_data import SHARED, llmrouter_split
from gateway.mlops.train import TRAINABLE

pytestmark = pytest.mark.training
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    assert TRAINING_PYTHON.exists(), f"training environment missing ({TRAINING_PYTHON}): run `make training-env`"
    assert (SHARED / "llmrouter" / "train.json").exists(), f"public data missing under {SHARED}"
    train, llm = llmrouter_split("train")
    test, _ = llmrouter_split("test")
    work = tmp_path_factory.mktemp("parity")
    data = write_training_dir(train.subset(range(0, len(train), 7)), ScoreWeights(cost=0.2), work / "data", llm,
                              test.queries[:300])
    done = subprocess.run([str(TRAINING_PYTHON), "-m", "gateway.mlops.train", "--data", str(data),
                           "--out", str(work / "out"), "--strategies", ",".join(TRAINABLE)],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return parity.check(work / "out")


@pytest.mark.parametrize("strategy", TRAINABLE)
def test_exported_artifact_picks_what_the_library_picks(trained, strategy):
    result = trained[strategy]
    print(f"parity {strategy}: {result.agree}/{result.total}")
    assert result.total == 300
    assert result.rate >= 0.99, f"{strategy}: {result.agree}/{result.total} agree; first mismatches {result.mismatches}"
