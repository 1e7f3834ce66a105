"""The runtime strategies never import torch, scikit-learn, transformers or onnxruntime."""

from __future__ import annotations

import subprocess
import sys

from gateway.routing.registry import STRATEGIES

MINE = [
    n
    for n in STRATEGIES
    if n.split("-", 1)[1]
    in {
        "knn",
        "svm",
        "mlp",
        "mf",
        "elo",
        "hybrid",
        "graph",
        "routerdc",
        "personalized",
        "gmt",
        "smallest",
        "largest",
        "cost-aware",
    }
]
FORBIDDEN = ("torch", "sklearn", "transformers", "onnxruntime", "scipy")


def test_importing_every_strategy_module_imports_no_training_library():
    modules = sorted({STRATEGIES[n].split(":")[0] for n in MINE})
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r} + ['gateway.routing.embedding', 'gateway.routing.demo', "
        "'gateway.routing.llm_data']:\n"
        "    importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
