"""A bundle is what its builder signed: nothing unsafe, a good signature, every file as SHA256SUMS says.

The same checks as `bundle/install.sh verify`, in the same order (zarf's chain of trust): the
archive is safe to unpack; the Ed25519 signature over SHA256SUMS verifies with the public key
carried separately; SHA256SUMS lists every file but itself and its signature, each with its sha256,
and no directory without a listed file. Every problem is named, then the bundle is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.errors import GatewayError
from gateway.sums import SUMS, verify_listing
from gateway.supply.reader import Bundle

SIG = "SHA256SUMS.sig"
SHOWN = 20  # problems listed in the message; the count says how many more


class BundleRefused(GatewayError):
    """The bundle is not what its builder signed; the message lists why. Nothing may be installed."""


class PublicKeyError(GatewayError):
    """The public key given to check the signature cannot be used."""


@dataclass(frozen=True)
class Verified:
    files: int  # listed in SHA256SUMS
    size: int  # their bytes
    fingerprint: str  # of the public key, "" when the signature was not checked


def load_public_key(path: Path) -> tuple[Ed25519PublicKey, str]:
    """The Ed25519 public key and its fingerprint (sha256 of the DER SubjectPublicKeyInfo, as build.py prints)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise PublicKeyError(f"--pubkey {path}: {exc.strerror}") from None
    except ValueError:
        raise PublicKeyError(f"--pubkey {path}: not a public key in PEM form (the <name>-<version>.pub.pem "
                             "made with the bundle)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise PublicKeyError(f"--pubkey {path}: a {type(key).__name__.removeprefix('_')}, not an Ed25519 key")
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, "SHA256:" + hashlib.sha256(der).hexdigest()


def _empty_dirs(bundle: Bundle, listed: set[str]) -> list[str]:
    parents = {"/".join(p.split("/")[:i]) for p in listed for i in range(1, p.count("/") + 1)}
    return [f"{d}/: a directory with no listed file" for d in sorted(bundle.dirs - parents)]


def problems(bundle: Bundle, key: Ed25519PublicKey | None) -> list[str]:
    """Every reason to refuse `bundle`; the signature is checked only with a `key`."""
    found = list(bundle.problems)
    sums, sig = bundle.kept.get(SUMS), bundle.kept.get(SIG)
    for name, data in ((SUMS, sums), (SIG, sig)):
        if data is None:
            found.append(f"{name}: missing (not a bundle, or an incomplete one)")
    if sums is None:
        return found
    if key is not None and sig is not None:
        try:
            key.verify(sig, sums)
        except InvalidSignature:
            found.append(f"bad signature: {SIG} does not verify {SUMS} with this public key (signed by "
                         f"another key, or {SUMS} was changed)")
    present = {p: h for p, h in bundle.files.items() if p != SIG}
    listing = verify_listing(sums.decode("utf-8", errors="surrogateescape"), present)
    found += [f"{p.path}: {_WHAT[p.kind]}" if p.kind in _WHAT else str(p) for p in listing]
    found += _empty_dirs(bundle, set(present) - {SUMS})
    return found


_WHAT = {
    "missing": f"listed in {SUMS} but missing",
    "extra": f"not listed in {SUMS} (an extra file)",
    "altered": f"altered (its sha256 does not match {SUMS})",
}


def verify(bundle: Bundle, key: Ed25519PublicKey | None, fingerprint: str = "") -> Verified:
    """The verified bundle's counts; BundleRefused naming every problem otherwise."""
    found = problems(bundle, key)
    if found:
        shown = found[:SHOWN] + ([f"... and {len(found) - SHOWN} more"] if len(found) > SHOWN else [])
        raise BundleRefused(f"{bundle.source}: refused, nothing may be installed from it "
                            f"({len(found)} problems):\n  " + "\n  ".join(shown))
    listed = [p for p in bundle.files if p not in (SUMS, SIG)]
    return Verified(len(listed), sum(bundle.sizes[p] for p in listed), fingerprint if key else "")
