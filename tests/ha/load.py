"""A bounded closed-loop load (N clients, each sending its next request when the last one ended)
with events (e.g. "kill gateway 1") fired at set times, and the per-window counts of the result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from bench.stats import markdown_table


@dataclass(frozen=True)
class Sample:
    started: float  # seconds since the load began
    ended: float
    ok: bool
    outcome: str  # HTTP status, or the client error's class


def run(url: str, body: dict[str, Any], headers: dict[str, str], concurrency: int, duration: float,
        events: list[tuple[float, Callable[[], None]]], verify: Any = True) -> tuple[list[Sample], list[float]]:
    """All samples, and the time each event was fired (seconds since the load began); `verify` as httpx's."""
    samples: list[Sample] = []
    lock = threading.Lock()
    t0 = time.monotonic()
    stop = t0 + duration

    def client() -> None:
        with httpx.Client(timeout=30, verify=verify) as http:
            while time.monotonic() < stop:
                started = time.monotonic() - t0
                try:
                    status = http.post(url, json=body, headers=headers).status_code
                    ok, outcome = status == 200, str(status)
                except httpx.HTTPError as exc:
                    ok, outcome = False, type(exc).__name__
                with lock:
                    samples.append(Sample(started, time.monotonic() - t0, ok, outcome))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    fired = []
    for at, action in sorted(events, key=lambda e: e[0]):
        time.sleep(max(0.0, at - (time.monotonic() - t0)))
        fired.append(time.monotonic() - t0)
        action()
    for thread in threads:
        thread.join(timeout=duration + 60)
    return sorted(samples, key=lambda s: s.started), fired


@dataclass(frozen=True)
class Window:
    """Some requests: how many, how many failed (and how), latency of those that succeeded."""

    name: str
    total: int
    failed: int
    outcomes: dict[str, int]
    p50_ms: float
    p99_ms: float

    def row(self) -> list[object]:
        how = ", ".join(f"{n}x {o}" for o, n in self.outcomes.items())
        return [self.name, self.total, f"{self.failed} ({how})" if how else 0, f"{self.p50_ms:.0f}",
                f"{self.p99_ms:.0f}"]


def window(name: str, chosen: list[Sample]) -> Window:
    latencies = [1000 * (s.ended - s.started) for s in chosen if s.ok] or [float("nan")]
    outcomes: dict[str, int] = {}
    for s in chosen:
        if not s.ok:
            outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
    return Window(name, len(chosen), sum(outcomes.values()), outcomes, float(np.percentile(latencies, 50)),
                  float(np.percentile(latencies, 99)))


def split(samples: list[Sample], events: list[float]) -> list[list[Sample]]:
    """[started before event 0, in flight at event 0, started between 0 and 1, in flight at 1, ..., after]."""
    parts: list[list[Sample]] = []
    rest, start = samples, 0.0
    for moment in events:
        parts.append([s for s in rest if start <= s.started and s.ended <= moment])
        parts.append([s for s in rest if s.started <= moment < s.ended])
        rest, start = [s for s in rest if s.started > moment], moment
    parts.append(rest)
    return parts


def failures(samples: list[Sample]) -> list[tuple[float, float, str]]:
    """The failed requests as (started, ended, outcome), seconds into the run, for a report."""
    return [(round(s.started, 2), round(s.ended, 2), s.outcome) for s in samples if not s.ok]


def table(windows: list[Window]) -> str:
    """The windows as a markdown table, as the load tests print them."""
    return markdown_table(["requests", "total", "failed", "p50 ms", "p99 ms"], [w.row() for w in windows])
