"""What `/hot-reload/status` reports: per model group and for the config."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


@dataclass
class WatchStatus:
    """One watched object: what is applied, and what the last check found."""

    source: str = ""
    applied_token: str | None = None
    applied_at: float | None = None
    last_check: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    attempts: int = 0
    failures: int = 0

    def checked(self) -> None:
        self.last_check = time.time()

    def applied(self, token: str) -> None:
        self.applied_token = token
        self.applied_at = time.time()
        self.last_error = None

    def failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        self.last_error_at = time.time()

    def as_dict(self) -> dict:
        data = asdict(self)
        for key in ("applied_at", "last_check", "last_error_at"):
            data[key] = iso(data[key])
        return data


@dataclass
class ModelStatus(WatchStatus):
    strategy: str = ""
    artifact_version: str = ""
    sha256: str = ""
    loaded_at: float | None = None

    def as_dict(self) -> dict:
        data = super().as_dict()
        data["loaded_at"] = iso(self.loaded_at)
        return data


@dataclass
class ReloadStatus:
    models: ModelStatus = field(default_factory=ModelStatus)
    config: WatchStatus = field(default_factory=WatchStatus)
    model_groups: list[str] = field(default_factory=list)
    config_hot_reload: bool = False
    model_hot_reload: bool = False

    def as_dict(self) -> dict:
        model = self.models.as_dict()
        return {
            "model_hot_reload": self.model_hot_reload,
            "model_groups": {group: model for group in self.model_groups},
            "config_hot_reload": self.config_hot_reload,
            "config": self.config.as_dict(),
        }
