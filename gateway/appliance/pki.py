"""The site CA: an offline root, an issuing intermediate, and one certificate per service and client.

`ensure` is idempotent: it issues what is missing, re-issues only what expires within the threshold
(or no longer matches the manifest or was revoked), and otherwise leaves every file untouched.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.appliance import revocation
from gateway.appliance.errors import PkiError
from gateway.appliance.files import write_bytes
from gateway.appliance.manifest import CaSettings, Manifest

ROOT, INTERMEDIATE = "root-ca", "intermediate-ca"
# The root CRL changes only when an intermediate is revoked; a year spares fetching the offline root often.
ROOT_CRL_DAYS = 365
BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock skew between hosts


@dataclass(frozen=True)
class Leaf:
    """What the manifest asks for: a certificate for a service (server) or client identity."""

    kind: str  # "server" or "client"
    name: str
    common_name: str
    dns: tuple[str, ...]
    ips: tuple[str, ...]


def wanted_leaves(m: Manifest) -> list[Leaf]:
    leaves = []
    for s in m.services:
        if s.tls.mode == "none":
            continue
        h = m.host(s.host)
        dns = [m.fqdn(s.name), m.fqdn(h.name), *h.dns_names, *s.dns_names]
        leaves.append(Leaf("server", s.name, m.fqdn(s.name), tuple(dict.fromkeys(dns)), tuple(h.addresses)))
    for c in m.clients:
        leaves.append(Leaf("client", c.name, c.name, (), ()))
    # Each TLS front presents its own identity to the real server behind it, so the backend's log and
    # any ACL can tell the front from a client that reached the loopback port directly.
    for s in m.fronted_services():
        name = revocation.front_identity(s.name)
        leaves.append(Leaf("client", name, name, (), ()))
    return leaves


class Pki:
    """Paths of the CA material under one directory (certs/out/<site>/pki by default)."""

    def __init__(self, root: Path):
        self.dir = Path(root)

    def cert(self, name: str) -> Path:
        return self.dir / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.dir / f"{name}.key"

    def crl(self, name: str) -> Path:
        return self.dir / f"{name}.crl"

    def leaf(self, kind: str, name: str, ext: str) -> Path:
        return self.dir / f"{kind}s" / f"{name}.{ext}"

    @property
    def revoked_file(self) -> Path:
        return self.dir / "revoked.json"

    @property
    def ca_bundle(self) -> Path:
        return self.dir / "ca-bundle.pem"

    @property
    def crl_bundle(self) -> Path:
        return self.dir / "crl-bundle.pem"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key(key_type: str):
    if key_type.startswith("ecdsa-"):
        return ec.generate_private_key(ec.SECP256R1() if key_type == "ecdsa-p256" else ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type.split("-")[1]))


def _hash(key_type: str):
    return hashes.SHA384() if key_type == "ecdsa-p384" else hashes.SHA256()


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ski(key) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def _builder(subject, issuer, key, now, not_after, path_length, key_encipherment=False):
    """What CA and leaf certificates share; `path_length` None makes a leaf (no CA, no signing)."""
    is_ca = path_length is not None
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=key_encipherment,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )


def _ca_cert(key, subject, issuer_cert, issuer_key, days, path_length, ca: CaSettings, now):
    issuer = issuer_cert.subject if issuer_cert is not None else subject
    b = _builder(subject, issuer, key, now, now + dt.timedelta(days=days), path_length).add_extension(
        _ski(key), critical=False
    )
    signer = issuer_key if issuer_key is not None else key
    if issuer_cert is not None:
        b = b.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    return b.sign(signer, _hash(ca.key_type))


def issue_leaf(leaf: Leaf, ca_cert, ca_key, ca: CaSettings, now: dt.datetime, eku=None, days=None):
    """Signs a leaf; `eku` overrides the usage (tests use it to make a wrong-purpose certificate)."""
    key = new_key(ca.key_type)
    not_after = min(now + dt.timedelta(days=days or ca.leaf_validity_days), ca_cert.not_valid_after_utc)
    usage = eku or [
        ExtendedKeyUsageOID.SERVER_AUTH if leaf.kind == "server" else ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    rsa_key = isinstance(key, rsa.RSAPrivateKey)
    org = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    b = (
        _builder(_name(leaf.common_name, org), ca_cert.subject, key, now, not_after, None, rsa_key)
        .add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        .add_extension(_ski(key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    sans = [x509.DNSName(d) for d in leaf.dns] + [x509.IPAddress(ip_address(a)) for a in leaf.ips]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return key, b.sign(ca_key, _hash(ca.key_type))


def _new_ca(pki: Pki, which: str, cn: str, issuer_cert, issuer_key, ca: CaSettings, now):
    """A fresh key and certificate for ROOT (self-signed) or INTERMEDIATE (under the root), written."""
    # The root may sign one level of CA below it; the intermediate signs only leaves.
    days, path_length = (
        (ca.root_validity_days, 1) if which == ROOT else (ca.intermediate_validity_days, 0)
    )
    key = new_key(ca.key_type)
    cert = _ca_cert(key, _name(cn, ca.organization), issuer_cert, issuer_key, days, path_length, ca, now)
    write_bytes(pki.key(which), _key_pem(key), 0o600)
    write_bytes(pki.cert(which), cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _load_cert(path: Path):
    return x509.load_pem_x509_certificate(path.read_bytes()) if path.exists() else None


def _load_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), None) if path.exists() else None


def _issued_by(cert, issuer) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _expiring(cert, now, days: int) -> bool:
    return cert.not_valid_after_utc - now <= dt.timedelta(days=days)


def _sans(cert) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return (), ()
    return tuple(ext.get_values_for_type(x509.DNSName)), tuple(
        str(a) for a in ext.get_values_for_type(x509.IPAddress)
    )


def read_revoked(pki: Pki) -> list[dict]:
    return json.loads(pki.revoked_file.read_text()) if pki.revoked_file.exists() else []


def ensure(
    m: Manifest, out: Path, threshold_days: int | None = None, now: dt.datetime | None = None
) -> list[str]:
    """Brings the CA material in `out` in line with the manifest; returns what it (re)issued."""
    ca, pki, now = m.ca, Pki(out), now or now_utc()
    threshold = m.ca.renew_before_days if threshold_days is None else threshold_days
    done: list[str] = []
    org = ca.organization
    root_cert, root_key = _load_cert(pki.cert(ROOT)), _load_key(pki.key(ROOT))
    if root_cert is None:
        root_cert, root_key = _new_ca(pki, ROOT, f"{org} Root CA ({m.site.name})", None, None, ca, now)
        done.append("root CA")
    elif _expiring(root_cert, now, threshold):
        raise PkiError(
            f"{pki.cert(ROOT)} expires on {root_cert.not_valid_after_utc:%Y-%m-%d}: rolling a root "
            "is a site decision; move the old CA aside and run generate to start a new one"
        )

    inter_cert, inter_key = _load_cert(pki.cert(INTERMEDIATE)), _load_key(pki.key(INTERMEDIATE))
    # An intermediate with less than one leaf lifetime left would cut leaves short: renew it early.
    if (
        inter_cert is None
        or inter_key is None
        or not _issued_by(inter_cert, root_cert)
        or _expiring(inter_cert, now, threshold + ca.leaf_validity_days)
    ):
        root_key = _need(root_key, pki.key(ROOT), "the intermediate CA")
        inter_cert, inter_key = _new_ca(
            pki, INTERMEDIATE, f"{org} Issuing CA ({m.site.name})", root_cert, root_key, ca, now
        )
        done.append("intermediate CA")

    revoked = {int(r["serial"], 16) for r in read_revoked(pki)}
    for leaf in wanted_leaves(m):
        cert = _load_cert(pki.leaf(leaf.kind, leaf.name, "crt"))
        if (
            cert is not None
            and pki.leaf(leaf.kind, leaf.name, "key").exists()
            and _issued_by(cert, inter_cert)
            and not _expiring(cert, now, threshold)
            and cert.serial_number not in revoked
            and _sans(cert) == (leaf.dns, leaf.ips)
        ):
            continue
        key, cert = issue_leaf(leaf, inter_cert, inter_key, ca, now)
        chain = cert.public_bytes(serialization.Encoding.PEM) + inter_cert.public_bytes(
            serialization.Encoding.PEM
        )
        write_bytes(pki.leaf(leaf.kind, leaf.name, "key"), _key_pem(key), 0o600)
        write_bytes(pki.leaf(leaf.kind, leaf.name, "crt"), cert.public_bytes(serialization.Encoding.PEM))
        write_bytes(pki.leaf(leaf.kind, leaf.name, "chain.pem"), chain)
        done.append(f"{leaf.kind} {leaf.name}")

    done += _ensure_crl(
        pki, INTERMEDIATE, inter_cert, inter_key, revoked, ca, now, threshold, ca.crl_validity_days
    )
    done += _ensure_crl(pki, ROOT, root_cert, root_key, set(), ca, now, threshold, ROOT_CRL_DAYS)
    pem = serialization.Encoding.PEM
    write_bytes(pki.ca_bundle, root_cert.public_bytes(pem) + inter_cert.public_bytes(pem))
    write_bytes(pki.crl_bundle, pki.crl(ROOT).read_bytes() + pki.crl(INTERMEDIATE).read_bytes())
    return done


def _need(key, path: Path, what: str):
    if key is None:
        raise PkiError(f"{path} is needed to sign {what}: bring the offline root key back for this step")
    return key


def _ensure_crl(pki: Pki, name, cert, key, serials: set[int], ca, now, threshold, days) -> list[str]:
    path = pki.crl(name)
    if path.exists():
        crl = x509.load_pem_x509_crl(path.read_bytes())
        listed = {r.serial_number for r in crl}
        if (
            crl.is_signature_valid(cert.public_key())
            and listed == serials
            and crl.next_update_utc - now > dt.timedelta(days=threshold)
        ):
            return []
    key = _need(key, pki.key(name), f"the CRL of {name}")
    number = 1
    if path.exists():
        old = x509.load_pem_x509_crl(path.read_bytes())
        try:
            number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
        except x509.ExtensionNotFound:
            pass
    revoked_at = {int(r["serial"], 16): dt.datetime.fromisoformat(r["revoked_at"]) for r in read_revoked(pki)}
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    for serial in sorted(serials):
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(revoked_at.get(serial, now))
            .build()
        )
    write_bytes(path, b.sign(key, _hash(ca.key_type)).public_bytes(serialization.Encoding.PEM))
    return [f"CRL {name}"]


def revoke(m: Manifest, out: Path, kind: str, name: str, reason: str, now: dt.datetime | None = None) -> str:
    """Lists the current certificate of a service or client in the intermediate's CRL; returns its serial.

    The files stay in place; the next `renew` sees the revoked serial and issues a replacement.
    """
    pki, now = Pki(out), now or now_utc()
    path = pki.leaf(kind, name, "crt")
    cert = _load_cert(path)
    if cert is None:
        raise PkiError(f"no certificate for {kind} {name!r} at {path}; names: {_names(pki, kind)}")
    serial = f"{cert.serial_number:x}"
    entries = [r for r in read_revoked(pki) if r["serial"] != serial]
    entries.append(
        {"serial": serial, "kind": kind, "name": name, "reason": reason, "revoked_at": now.isoformat()}
    )
    write_bytes(
        pki.revoked_file, (json.dumps(sorted(entries, key=lambda r: r["serial"]), indent=2) + "\n").encode()
    )
    inter_cert, inter_key = _load_cert(pki.cert(INTERMEDIATE)), _load_key(pki.key(INTERMEDIATE))
    if inter_cert is None or inter_key is None:
        raise PkiError(f"the issuing CA is missing in {pki.dir}; run generate first")
    serials = {int(r["serial"], 16) for r in entries}
    _ensure_crl(
        pki,
        INTERMEDIATE,
        inter_cert,
        inter_key,
        serials,
        m.ca,
        now,
        m.ca.renew_before_days,
        m.ca.crl_validity_days,
    )
    write_bytes(pki.crl_bundle, pki.crl(ROOT).read_bytes() + pki.crl(INTERMEDIATE).read_bytes())
    return serial


def _names(pki: Pki, kind: str) -> str:
    return ", ".join(sorted(p.stem for p in (pki.dir / f"{kind}s").glob("*.crt"))) or "none"
