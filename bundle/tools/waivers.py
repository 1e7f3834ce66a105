"""Reviewed waivers for known vulnerabilities (bundle/vulnerability-waivers.yaml).

A finding that is accepted for a while is written here with who-knows-why (`reason`) and until when
(`expiry`); the file is reviewed like code. An expired waiver stops the build even when nothing
matches it any more, so the file cannot rot into a list of forgotten excuses.

    waivers:
      - id: PYSEC-2017-94          # or any alias the report lists (CVE-..., GHSA-...)
        package: pycrypto
        reason: "only ElGamal is affected; the gateway never imports it (reviewed 2026-12-03, A. Lee)"
        expiry: 2027-03-01
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bundle.tools.errors import BundleError
from bundle.tools.pypi_vulns import canonical_name


class Waiver(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, description="the advisory id or one of its aliases")
    package: str = Field(min_length=1, description="the PyPI project the advisory is about")
    reason: str = Field(min_length=10, description="why the finding is accepted, and who reviewed it")
    expiry: dt.date = Field(description="the last day the waiver holds (YYYY-MM-DD)")

    @field_validator("package")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return canonical_name(value)

    def matches(self, package: str, ids: tuple[str, ...]) -> bool:
        return self.package == canonical_name(package) and self.id in ids


class WaiverFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    waivers: tuple[Waiver, ...] = ()


def load(path: Path) -> tuple[Waiver, ...]:
    """The waivers of `path`; a missing file means none. Errors name the file, the entry and the key."""
    if not path.exists():
        return ()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise BundleError(f"{path}: cannot read the waivers ({exc})") from None
    try:
        return WaiverFile.model_validate(raw).waivers
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             + (f" (value {e['input']!r})" if e["type"] != "missing" else "")
                             for e in exc.errors())
        raise BundleError(f"{path}: invalid waivers: {problems}. Each entry needs id, package, reason "
                          "(10+ characters) and expiry (YYYY-MM-DD), nothing else") from None


def expired(path: Path, waivers: tuple[Waiver, ...], today: dt.date) -> list[str]:
    return [f"{path}: waivers.{i}: {w.id} for {w.package} expired on {w.expiry}; review it again "
            "(new expiry) or fix the finding" for i, w in enumerate(waivers) if w.expiry < today]
