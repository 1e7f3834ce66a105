"""The gateway's static encoder against model2vec's own distillation of the same MiniLM weights.

The gateway distils with its numpy MiniLM (no torch, so `make run` builds it anywhere); model2vec
0.10's `distill_from_model` (torch, in the training environment) is the reference. Compared on
real queries of ../shared/data/llmrouter: the sentence vectors must point the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from gateway.mlops.pipeline import TRAINING_PYTHON
from gateway.mlops.public_data import SHARED

pytestmark = pytest.mark.training
ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, sys
import numpy as np
from transformers import AutoModel, AutoTokenizer
from model2vec.distill import distill_from_model
from gateway.routing.embedding import default_model_dir
from gateway.routing.static_embedding import distilled_encoder
model_dir = str(default_model_dir())
reference = distill_from_model(AutoModel.from_pretrained(model_dir), AutoTokenizer.from_pretrained(model_dir),
                               pca_dims=256)
ours = distilled_encoder(cache_dir=__import__("pathlib").Path(sys.argv[2]))
questions = list(dict.fromkeys(row["question"] for row in json.load(open(sys.argv[1]))))[:400]
a, b = reference.encode(questions), ours.embed_batch(questions)
cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
print("RESULT " + json.dumps({"n": len(questions), "mean": float(cos.mean()), "min": float(cos.min()),
                              "vocab": [len(reference.tokens), int((np.abs(ours.table).sum(1) > 0).sum())]}))
"""


def test_the_numpy_distillation_matches_model2vecs(tmp_path):
    assert TRAINING_PYTHON.exists(), f"training environment missing ({TRAINING_PYTHON}): run `make training-env`"
    data = SHARED / "llmrouter" / "test.json"
    assert data.exists(), f"public data missing: {data}"
    done = subprocess.run([str(TRAINING_PYTHON), "-c", SCRIPT, str(data), str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(next(x for x in done.stdout.splitlines() if x.startswith("RESULT ")).removeprefix("RESULT "))
    print(result)
    assert result["n"] == 400
    assert result["vocab"][0] == result["vocab"][1]  # the same word pieces kept (29,525 of 30,522)
    assert result["mean"] > 0.9995 and result["min"] > 0.98
