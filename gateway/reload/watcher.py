"""A poll loop over one `Source`: probe, fetch on change, apply, and keep the old on failure.

One loop per watched object. A failed probe (store down, denied, missing object) backs off
exponentially up to `max_backoff`; a failed apply (corrupt or incompatible object) is not
retried until the object changes again, since the same bytes would fail the same way.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from opentelemetry import trace

from gateway.errors import GatewayError
from gateway.reload.metrics import RELOADS
from gateway.reload.sources import Source, SourceError, cleanup
from gateway.reload.status import WatchStatus

logger = logging.getLogger("gateway.reload")
tracer = trace.get_tracer("gateway.reload")

Apply = Callable[[Path, str], Awaitable[None]]


class Watcher:
    def __init__(self, kind: str, source: Source, apply: Apply, status: WatchStatus, interval: float,
                 max_backoff: float | None = None, initial_token: str | None = None):
        self.kind = kind
        self.source = source
        self.apply = apply
        self.status = status
        self.interval = interval
        self.max_backoff = max_backoff or max(interval * 8, 60.0)
        self.status.source = source.url
        self.seen_token = initial_token
        if initial_token is not None:
            self.status.applied(initial_token)
        self._task: asyncio.Task | None = None
        self._workdir = Path(tempfile.mkdtemp(prefix=f"gateway-{kind}-"))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"gateway-{self.kind}-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self) -> None:
        delay = self.interval
        while True:
            await asyncio.sleep(delay)
            try:
                await self.check_once()
                delay = self.interval
            except SourceError:
                delay = min(delay * 2, self.max_backoff)
            except Exception:  # never let the loop die: log and keep the old object serving
                logger.exception("%s reload: unexpected error", self.kind)
                delay = min(delay * 2, self.max_backoff)

    async def check_once(self) -> bool:
        """One probe (and reload if changed). True when a new object was applied."""
        self.status.checked()
        try:
            token = await self.source.probe()
        except SourceError as exc:
            self._record_failure(str(exc), probe=True)
            raise
        if token == self.seen_token:
            return False
        self.seen_token = token
        return await self._reload(token)

    async def _reload(self, token: str) -> bool:
        self.status.attempts += 1
        with tracer.start_as_current_span(f"gateway.reload.{self.kind}", attributes={
            "gateway.reload.kind": self.kind, "gateway.reload.source": self.source.url,
            "gateway.reload.token": token,
        }) as span:
            fetched = None
            try:
                fetched = await self.source.fetch(self._workdir)
                await self.apply(fetched, token)
            except (SourceError, GatewayError, ValueError, OSError) as exc:
                span.set_attribute("gateway.reload.result", "rejected")
                span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
                self._record_failure(f"rejected {token}: {exc}")
                RELOADS.labels(self.kind, "rejected").inc()
                if isinstance(exc, SourceError):
                    self.seen_token = None  # the object was not read: try again next time
                return False
            finally:
                cleanup(fetched)
            span.set_attribute("gateway.reload.result", "applied")
        self.status.applied(token)
        RELOADS.labels(self.kind, "applied").inc()
        logger.info("%s reload applied from %s (%s)", self.kind, self.source.url, token)
        return True

    def _record_failure(self, message: str, probe: bool = False) -> None:
        self.status.failed(message)
        if probe:
            RELOADS.labels(self.kind, "unreachable").inc()
        logger.warning("%s reload: %s; keeping what is serving", self.kind, message)
