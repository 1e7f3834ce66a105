"""Prometheus counters for reloads; they appear on LiteLLM's `/metrics` (the default registry)."""

from __future__ import annotations

from prometheus_client import Counter

RELOADS = Counter(
    "gateway_reloads_total",
    "Hot-reload attempts that found a new object, by kind (model, config) and result",
    ["kind", "result"],
)

for _kind in ("model", "config"):
    for _result in ("applied", "rejected", "unreachable"):
        RELOADS.labels(_kind, _result)  # present at 0 from the start, so alerts can use rate()
