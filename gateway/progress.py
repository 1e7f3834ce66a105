"""Progress lines for steps that take minutes (wheelhouse downloads, vendor fetches, lock compiles).

A line at most every `every` seconds, with what is done of what total, the bytes and the time
so far: a log stays short, and whoever watches a terminal sees the work go on instead of minutes of
silence. Plain lines rather than a bar, because these steps run in make and CI logs as often as in
a terminal. Standard library only, like `gateway.sums`: the wheelhouse and vendor tools import it
from the work tree before any venv exists.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import TextIO

#: seconds between two lines
EVERY = 10.0


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


class Progress:
    """Counts and bytes of one long step; `update` prints when `every` seconds have passed."""

    def __init__(self, label: str, total_items: int | None = None, total_bytes: int | None = None,
                 unit: str = "files", every: float = EVERY, out: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.label, self.unit, self.every = label, unit, every
        self.total_items, self.total_bytes = total_items, total_bytes
        self.items = self.nbytes = 0
        self.out, self.clock = out, clock
        self.started = self.printed = clock()
        self.note = ""

    def line(self) -> str:
        parts = []
        if self.total_items is not None or self.items:
            total = f"/{self.total_items}" if self.total_items is not None else ""
            parts.append(f"{self.items}{total} {self.unit}")
        if self.total_bytes:
            parts.append(f"{_mb(self.nbytes)} of {_mb(self.total_bytes)} ({100 * self.nbytes // self.total_bytes} %)")
        elif self.nbytes:
            parts.append(_mb(self.nbytes))
        parts.append(f"{self.clock() - self.started:.0f} s")
        return f"{self.label}: {', '.join(parts)}{f' ({self.note})' if self.note else ''}"

    def _print(self) -> None:
        print(self.line(), file=self.out or sys.stdout, flush=True)
        self.printed = self.clock()

    def update(self, items: int = 0, nbytes: int = 0, note: str | None = None) -> None:
        self.items += items
        self.nbytes += nbytes
        if note is not None:
            self.note = note
        if self.clock() - self.printed >= self.every:
            self._print()

    def finish(self, note: str = "done") -> None:
        """The last line, whatever the time since the one before."""
        self.note = note
        self._print()

    def wait(self, proc: subprocess.Popen, note: str = "running") -> int:
        """Wait for `proc`, with a line every `every` seconds while it runs (a resolver says nothing)."""
        self.note = note
        while True:
            try:
                return proc.wait(timeout=max(self.every - (self.clock() - self.printed), 0.05))
            except subprocess.TimeoutExpired:
                self.update()
