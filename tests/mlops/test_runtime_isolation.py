"""The training loop's code stays out of the runtime: every gateway.mlops module imports without
torch, scikit-learn or llmrouter (their imports live inside training functions), and the serving
path (proxy server, routing runtime, capture hook) never imports gateway.mlops."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import gateway.mlops

TRAINING = ("torch", "sklearn", "llmrouter", "transformers", "matplotlib")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin"})
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_every_mlops_module_imports_without_a_training_library():
    names = [m.name for m in pkgutil.walk_packages(gateway.mlops.__path__, "gateway.mlops.")]
    assert "gateway.mlops.train" in names and "gateway.mlops.export" in names
    loaded = loaded_after("\n".join(f"import {n}" for n in names if not n.endswith("__main__")))
    assert not loaded & set(TRAINING)


def test_the_serving_path_does_not_import_the_training_loop():
    out = subprocess.run([sys.executable, "-c",
                          "import gateway.routing.runtime, gateway.proxy.hooks, gateway.proxy.feedback, sys;"
                          "print(sorted(m for m in sys.modules if m.startswith('gateway.mlops')))"],
                         capture_output=True, text=True, check=True,
                         env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip().splitlines()[-1] == "[]"
