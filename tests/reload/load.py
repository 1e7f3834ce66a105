"""A bounded background load on loopback: concurrent chat completions, each outcome recorded."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Outcome:
    started: float
    finished: float
    status: int  # 0 when the request failed without an HTTP answer
    routed: str | None
    error: str = ""


class BackgroundLoad:
    """`concurrency` clients in a loop until stopped, `max_requests` sent, or `max_seconds` passed."""

    def __init__(self, url: str, key: str, concurrency: int = 4, max_requests: int = 20000,
                 max_seconds: float = 240.0, text: str = "hello there"):
        self.url, self.key, self.text = url, key, text
        self.concurrency, self.max_requests, self.max_seconds = concurrency, max_requests, max_seconds
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> BackgroundLoad:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    async def _main(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        body = {"model": "auto", "messages": [{"role": "user", "content": self.text}]}
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(timeout=30) as client:

            async def worker() -> None:
                while not self._stop.is_set() and time.monotonic() < deadline \
                        and len(self.outcomes) < self.max_requests:
                    started = time.monotonic()
                    try:
                        r = await client.post(f"{self.url}/v1/chat/completions", json=body, headers=headers)
                        outcome = Outcome(started, time.monotonic(), r.status_code,
                                          r.headers.get("x-gateway-routed-model"),
                                          "" if r.status_code == 200 else r.text[:300])
                    except httpx.HTTPError as exc:
                        outcome = Outcome(started, time.monotonic(), 0, None, repr(exc))
                    self.outcomes.append(outcome)

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200]

    def completed_after(self, moment: float, count: int, timeout: float = 60.0) -> list[str | None]:
        """Where the first `count` requests started after `moment` were routed (waits for them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            later = [o.routed for o in list(self.outcomes) if o.started > moment]
            if len(later) >= count:
                return later
            time.sleep(0.02)
        raise AssertionError(f"fewer than {count} requests completed within {timeout}s after the swap")

    def first_routed_to(self, model: str, after: float, timeout: float = 60.0) -> Outcome:
        """The first answer from `model` to a request started after `after` (monotonic)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for outcome in list(self.outcomes):
                if outcome.started > after and outcome.routed == model:
                    return outcome
            time.sleep(0.02)
        seen = {o.routed for o in self.outcomes if o.started > after}
        raise AssertionError(f"no request routed to {model} within {timeout}s (saw {seen})")
