"""The loop trains the native quality routers with the gateway's runtime alone (numpy): torch and
llmrouter-lib are blocked in the training process, as on a trainer host without the training wheelhouse.
Traces are read through a glob, as the collector's rotated trace files are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gateway.routing import artifact as fmt
from tests.ansible.trainer_traces import SECOND, write_traces

# a training "python" (called as `python -m gateway.mlops.train ...`) that refuses to import torch or llmrouter
BLOCKING = """import runpy, sys
sys.modules["torch"] = None
sys.modules["llmrouter"] = None
assert sys.argv[1] == "-m", sys.argv
module = sys.argv[2]
sys.argv = [module] + sys.argv[3:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def test_the_loop_trains_and_publishes_a_quality_router_without_torch(tmp_path):
    write_traces(tmp_path / "otelcol/traces.json", SECOND, "a")
    write_traces(tmp_path / "otelcol/traces-2026-12-03T10-00-00.000.json", SECOND, "b")
    (tmp_path / "otelcol/metrics.json").write_text("not traces\n")
    python = tmp_path / "training-python"
    (tmp_path / "blocking.py").write_text(BLOCKING)
    python.write_text(f"#!/bin/sh\nexec {sys.executable} {tmp_path / 'blocking.py'} \"$@\"\n")
    python.chmod(0o755)
    out = subprocess.run([sys.executable, "-m", "gateway", "mlops", "loop", "--strategy", "quality",
                          "--traces", f"otlp:{tmp_path}/otelcol/traces*.json", "--work", str(tmp_path / "work"),
                          "--min-quality", "0.6", "--publish-path", str(tmp_path / "published/current.tar")],
                         capture_output=True, text=True, timeout=600,
                         env={**os.environ, "GATEWAY_TRAINING_PYTHON": str(python)})
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "432 captured calls, 432 feedback labels" in out.stdout  # both files, not metrics.json
    published = Path(tmp_path / "published/current.tar")
    assert fmt.load_artifact(published).strategy == "llmrouter-quality"


def test_a_glob_that_matches_nothing_is_refused_naming_it(tmp_path):
    out = subprocess.run([sys.executable, "-m", "gateway", "mlops", "loop", "--strategy", "quality",
                          "--traces", f"otlp:{tmp_path}/traces*.json", "--work", str(tmp_path / "work")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert f"no file matches {tmp_path}/traces*.json" in out.stderr
