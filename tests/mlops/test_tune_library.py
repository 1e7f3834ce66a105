"""Cross-validation through llmrouter-lib (gateway.mlops.tune.cv_library): per fold the library
trains, the artifact is exported and the held-out fold is routed by the gateway's strategy class.
For knn that must give exactly what scikit-learn's KNeighborsClassifier gives on the same folds
(cv_knn), which checks the folds, the per-fold labels and the scoring end to end. Needs the
training environment and ../shared/data (FAIL without them, as tests/mlops/test_parity.py)."""

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
from dataclasses import asdict
from pathlib import Path
from gateway.mlops.embed import embed_texts
from gateway.mlops.public_data import llmrouter_split
from gateway.mlops.tune import cv_knn, cv_library
train, llm = llmrouter_split("train")
sub = train.subset(range(0, len(train), 7))
vectors = embed_texts(sub.queries, progress=False)
work = Path(sys.argv[1])
grid = dict(cost_weights=(0.0, 0.2))
out = {"sklearn": cv_knn(sub, vectors, ks=(5, 25), **grid)[1],
       "library": cv_library("knn", sub, vectors, llm, work, values=(5, 25), **grid)[1],
       "mf": cv_library("mf", sub, vectors, llm, work, values=(1,), cost_weights=(0.0,))[1]}
for tar in work.rglob("mf-epochs-1/mf.tar"):
    tar.unlink()  # a resumed run reads chosen.json and trains nothing, so these stay gone
out["mf_again"] = cv_library("mf", sub, vectors, llm, work, values=(1,), cost_weights=(0.0,))[1]
print("RESULT " + json.dumps({k: [asdict(t) for t in v] for k, v in out.items()}))
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    assert TRAINING_PYTHON.exists(), f"training environment missing ({TRAINING_PYTHON}): run `make training-env`"
    assert (SHARED / "llmrouter" / "train.json").exists(), f"public data missing under {SHARED}"
    work = tmp_path_factory.mktemp("cv")
    done = subprocess.run([str(TRAINING_PYTHON), "-c", SCRIPT, str(work)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT ")), work


def test_library_knn_cv_equals_the_sklearn_cv(results):
    out, _ = results
    assert len(out["library"]) == len(out["sklearn"]) == 4
    assert out["library"] == out["sklearn"]


def test_library_cv_keeps_each_folds_choices_and_resumes_from_them(results):
    out, work = results
    assert len(list(work.rglob("mf-epochs-1/chosen.json"))) == 5
    assert not list(work.rglob("mf-epochs-1/work"))  # the library's inputs are removed after each fit
    assert out["mf_again"] == out["mf"]
    assert not list(work.rglob("mf-epochs-1/mf.tar"))  # not retrained
    assert 0.0 < out["mf"][0]["quality"] <= 1.0
