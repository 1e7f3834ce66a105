"""Percentiles and table formatting shared by the benchmarks."""

from __future__ import annotations

import numpy as np


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    data = np.asarray(samples_ms, dtype=np.float64)
    return {"p50": float(np.percentile(data, 50)), "p99": float(np.percentile(data, 99)), "n": int(data.size)}


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
