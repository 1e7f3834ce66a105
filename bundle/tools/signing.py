"""The bundle's Ed25519 signing key: load (or create a development key), sign, fingerprint.

The signature is a raw, detached Ed25519 signature over SHA256SUMS, which the far side checks with
`openssl pkeyutl -verify -pubin -inkey KEY.pub.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig`
(OpenSSL 3.0 on Debian 12). Ed25519 signatures are deterministic, so the signature is reproducible too.
The fingerprint is the sha256 of the public key's DER SubjectPublicKeyInfo, which an operator gets
with `openssl pkey -pubin -in KEY.pub.pem -outform DER | sha256sum`.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bundle.tools.errors import BundleError

PASSPHRASE_ENV = "BUNDLE_SIGNING_KEY_PASSPHRASE"


def _create(path: Path) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    print(f"bundle: WARNING: created a DEVELOPMENT signing key {path} (mode 0600). A real site signs with "
          "a key kept offline and passes it with --signing-key (docs/moat-mode.md)", file=sys.stderr)
    return key


def load_key(path: Path, create_if_missing: bool) -> Ed25519PrivateKey:
    """The private key at `path`; a missing key is created only where `create_if_missing` (the default path)."""
    if not path.exists():
        if create_if_missing:
            return _create(path)
        raise BundleError(f"--signing-key {path}: no such file (the default key is created when missing; "
                          "a key given by name never is)")
    if path.stat().st_mode & 0o077:
        print(f"bundle: WARNING: {path} is readable by group or others; chmod 600 it", file=sys.stderr)
    passphrase = os.environ.get(PASSPHRASE_ENV)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), passphrase.encode() if passphrase else None)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"{path}: cannot read the signing key ({exc}); an encrypted key needs "
                          f"{PASSPHRASE_ENV}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise BundleError(f"{path}: a {type(key).__name__.removeprefix('_')}, not an Ed25519 key; make one with "
                          "`openssl genpkey -algorithm ed25519 -out KEY.pem`")
    return key


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def fingerprint(key: Ed25519PrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    return key.sign(data)
