"""`gateway bundle build|verify|inspect|diff`: the appliance bundle from the operator's command line.

`build` runs bundle/tools/build.py of the checkout this gateway runs from (the build needs the
repository's outputs); `verify`, `inspect` and `diff` read any bundle with the installed gateway
alone. A bundle that fails its checks is refused (exit 1) before anything reads its contents.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gateway.errors import GatewayError


def register(subparsers) -> argparse.ArgumentParser:
    """Adds `bundle` to the gateway CLI; each command sets `func`."""
    from gateway.supply.verify import BundleRefused

    parser = subparsers.add_parser(
        "bundle", help="build, verify, inspect and compare appliance bundles",
        description="The signed bundle that carries the appliance to an air-gapped site (docs/moat-mode.md). "
                    "verify, inspect and diff read a .tar.zst as it streams (nothing is unpacked) or an "
                    "unpacked bundle directory.")
    parser.set_defaults(refused=(BundleRefused,))
    sub = parser.add_subparsers(dest="bundle_command", required=True, metavar="COMMAND")

    # Its options are build.py's own: they pass through, `--help` included.
    build = sub.add_parser("build", add_help=False, help="build the bundle (bundle/tools/build.py)",
                           usage="%(prog)s [--arch amd64 --arch arm64] [--no-images] [--no-apt] [--no-vendor] "
                                 "[--signing-key PATH] [--out-dir DIST] [input options]",
                           description="Run bundle/tools/build.py of this checkout with these options: one "
                                       "signed, reproducible .tar.zst under dist/ and its public key. "
                                       "`gateway bundle build --help` prints the builder's help.")
    build.set_defaults(func=_build, passthrough=True)

    verify = _command(sub, "verify", _verify, "check a bundle's signature and every file before installing",
                      "Refuse a bundle unless it is safe to unpack, SHA256SUMS.sig verifies SHA256SUMS with the "
                      "public key, and every file is listed with its sha256 (nothing missing, extra or altered). "
                      "The same checks as `install.sh verify`.")
    verify.add_argument("bundle", type=Path, help=BUNDLE_HELP)
    verify.add_argument("--pubkey", type=Path, required=True, metavar="KEY.pem", help=KEY_HELP)

    inspect = _command(sub, "inspect", _inspect, "what a bundle holds: versions, SBOMs, known vulnerabilities",
                       "Check the bundle's files against its SHA256SUMS (and its signature with --pubkey), then "
                       "list its parts, the versions of its Debian packages, wheels, images and vendored "
                       "binaries, its SBOMs and its vulnerability report (reports/vulnerabilities.json).")
    inspect.add_argument("bundle", type=Path, help=BUNDLE_HELP)
    inspect.add_argument("--pubkey", type=Path, metavar="KEY.pem", help=f"{KEY_HELP}; without it the signature "
                         "is not checked")
    inspect.add_argument("--versions", action="store_true", help="list every package, wheel and image")
    inspect.add_argument("--json", action="store_true", help="print the inventory as JSON")

    diff = _command(sub, "diff", _diff, "what changes between two bundles, before installing the new one",
                    "Compare two bundles: Debian packages and wheels with their versions, image digests, "
                    "vendored binaries, and every other file by sha256. Both are checked against their "
                    "SHA256SUMS first (and their signatures with --pubkey).")
    diff.add_argument("old", type=Path, help="the installed (or previous) bundle")
    diff.add_argument("new", type=Path, help="the bundle to install")
    diff.add_argument("--pubkey", type=Path, metavar="KEY.pem", help=f"{KEY_HELP}, of the new bundle")
    diff.add_argument("--old-pubkey", type=Path, metavar="KEY.pem",
                      help="the old bundle's key, when it was signed by another (default: --pubkey)")
    return parser


BUNDLE_HELP = "a bundle .tar.zst or an unpacked bundle directory"
KEY_HELP = "the Ed25519 public key carried separately (<name>-<version>.pub.pem)"


def _command(sub, name: str, func, summary: str, description: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=summary, description=description)
    parser.set_defaults(func=func)
    return parser


def _checkout() -> Path:
    root = Path(__file__).resolve().parents[2]
    if not (root / "bundle/tools/build.py").is_file():
        raise GatewayError(f"gateway bundle build needs a checkout of the repository (no bundle/tools/build.py "
                           f"under {root}); the installed gateway can verify, inspect and diff bundles")
    return root


def _build(args: argparse.Namespace) -> int:
    root = str(_checkout())
    if root not in sys.path:
        sys.path.insert(0, root)
    from bundle.tools import build
    from bundle.tools.errors import BundleError

    try:
        return build.build(build.parse_args(args.extra))
    except BundleError as exc:
        raise GatewayError(f"bundle build: {exc}") from None


def _read_verified(path: Path, pubkey: Path | None):
    """The bundle, after the checks; BundleRefused names every problem."""
    from gateway.supply.reader import read_bundle
    from gateway.supply.verify import load_public_key, verify

    key, fingerprint = load_public_key(pubkey) if pubkey is not None else (None, "")
    bundle = read_bundle(path)
    return bundle, verify(bundle, key, fingerprint)


def _integrity(path: Path, verified) -> str:
    signed = (f"signature good (public key {verified.fingerprint}; compare it with the one received out of "
              "band)" if verified.fingerprint else "signature NOT checked (give --pubkey)")
    return (f"{path}: {verified.files} files ({verified.size / 1e6:.1f} MB) match SHA256SUMS, nothing unlisted; "
            f"{signed}")


def _verify(args: argparse.Namespace) -> int:
    _, verified = _read_verified(args.bundle, args.pubkey)
    print(f"verified {_integrity(args.bundle, verified)}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from gateway.supply.inventory import inventory
    from gateway.supply.report import inspect_lines

    bundle, verified = _read_verified(args.bundle, args.pubkey)
    inv = inventory(bundle)
    if args.json:
        print(json.dumps({"bundle": str(args.bundle), "top": bundle.top, "files": verified.files,
                          "bytes": verified.size, "signature_checked": bool(verified.fingerprint),
                          "info": inv.info, "versions": inv.versions, "sboms": inv.sboms,
                          "vulnerabilities": inv.vulnerabilities}, indent=2, sort_keys=True))
        return 0
    print(_integrity(args.bundle, verified))
    for line in inspect_lines(bundle, inv, every_version=args.versions):
        print(line)
    return 0


def _diff(args: argparse.Namespace) -> int:
    from gateway.supply.diff import diff
    from gateway.supply.inventory import inventory

    old, _ = _read_verified(args.old, args.old_pubkey or args.pubkey)
    new, _ = _read_verified(args.new, args.pubkey)
    lines = diff(inventory(old), inventory(new))
    print(f"{args.old} -> {args.new}: " + ("no changes" if not lines else "changes below"))
    for line in lines:
        print(line)
    return 0
