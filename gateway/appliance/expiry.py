"""Days to expiry of every certificate and CRL installed under a directory (e.g. /etc/gateway/pki).

A certificate that runs out stops mTLS between two services at once, and a CRL past its nextUpdate
makes PostgreSQL and HAProxy refuse *valid* certificates too; both happen on a date known a year
ahead. So the audit and the gateway's `/metrics` read the installed files themselves (not the
controller's copy: a host that missed a deployment is the one that breaks) and count the days.
Each certificate of a chain file counts on its own: a stale intermediate in one chain is a finding.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from gateway.appliance.errors import PkiError

_BLOCK = re.compile(rb"-----BEGIN (CERTIFICATE|X509 CRL)-----.+?-----END \1-----", re.S)
SUFFIXES = (".pem", ".crt", ".crl")
RENEW = "run `gateway appliance renew MANIFEST` on the controller, then `ansible-playbook site.yml --tags pki`"


@dataclass(frozen=True, order=True)
class Expiry:
    """One certificate or CRL: `name` is its file under the scanned directory, `#N` its place in the file."""

    days: float  # to notAfter (certificate) or nextUpdate (CRL); negative once past
    name: str
    kind: str  # "certificate" or "crl"
    subject: str  # the certificate's CN, or the CRL issuer's CN
    not_after: dt.datetime

    def describe(self) -> str:
        when = f"{self.not_after:%Y-%m-%d}"
        left = f"expires in {self.days:.0f} days ({when})" if self.days >= 0 else \
            f"expired {-self.days:.0f} days ago ({when})"
        what = "CRL, next update due," if self.kind == "crl" else "certificate"
        return f"{what} {self.name} ({self.subject}): {left}"


def _cn(name: x509.Name) -> str:
    cns = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(cns[0].value) if cns else name.rfc4514_string()


def read_file(path: Path, name: str, now: dt.datetime) -> list[Expiry]:
    """Every certificate and CRL in one PEM file (a file may hold several: chains, crl-bundle.pem)."""
    try:
        blocks = _BLOCK.finditer(path.read_bytes())
    except OSError as exc:
        raise PkiError(f"{path}: cannot read ({exc.strerror})") from None
    out = []
    for i, m in enumerate(blocks):
        label = f"{name}#{i}"
        try:
            if m.group(1) == b"CERTIFICATE":
                cert = x509.load_pem_x509_certificate(m.group(0))
                end, kind, subject = cert.not_valid_after_utc, "certificate", _cn(cert.subject)
            else:
                crl = x509.load_pem_x509_crl(m.group(0))
                end, kind, subject = crl.next_update_utc, "crl", _cn(crl.issuer)
        except ValueError as exc:
            raise PkiError(f"{path}: PEM block {i} is not a valid certificate or CRL ({exc})") from None
        if end is None:  # a CRL without nextUpdate never goes stale
            continue
        out.append(Expiry((end - now).total_seconds() / 86400, label, kind, subject, end))
    return out


def scan(directory: Path, now: dt.datetime | None = None) -> list[Expiry]:
    """All certificates and CRLs in PEM files below `directory` (keys are never opened), soonest first."""
    if not directory.is_dir():
        raise PkiError(f"{directory}: no such directory (the installed PKI; --pki-dir names another)")
    now = now or dt.datetime.now(dt.UTC)
    try:
        paths = sorted(directory.rglob("*"))
    except OSError as exc:  # a subdirectory this user may not list
        raise PkiError(f"{directory}: cannot list it ({exc})") from None
    found: list[Expiry] = []
    for path in paths:
        if path.is_file() and path.suffix in SUFFIXES:
            found += read_file(path, path.relative_to(directory).as_posix(), now)
    return sorted(found)


def findings(items: list[Expiry], warn_days: int) -> list[str]:
    """What expires within `warn_days` (or already has), each with the way to renew it."""
    return [f"{e.describe()}: {RENEW}" for e in items if e.days < warn_days]
