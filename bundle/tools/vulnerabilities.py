"""Known vulnerabilities of every Python package the locks pin: the bundle's `reports/vulnerabilities.json`.

    .venv/bin/python bundle/tools/vulnerabilities.py [--locks wheelhouse/locks]
        [--waivers bundle/vulnerability-waivers.yaml] [--out dist/reports/vulnerabilities.json]

Runs on the connected build host (`make vulnerability-report`); writes the report even when it fails,
so the findings can be read, and exits 1 on a finding that no reviewed waiver covers or on an expired
waiver. `build.py` takes the report as an input: it checks the report describes the locks being
bundled, is recent, and still passes the waivers on the day of the build, then packs it beside the
SBOMs. The check is a separate step because its answer changes with the world, while the bundle must
stay byte-reproducible from its inputs.

The report (the contract `gateway bundle inspect` reads; extra keys may be added, none removed):
    {"generated": ISO 8601 UTC, "source": str, "locks": {path: sha256}, "checked": int,
     "findings": [{"package", "version", "id", "aliases", "fix_versions", "waived", "reason", "expiry",
                   "summary", "link", "locks"}],
     "not_checked": [{"component", "reason", "locks"}]}
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: `bundle.tools` importable

from bundle.tools import pypi_vulns, waivers  # noqa: E402
from bundle.tools.errors import BundleError  # noqa: E402
from bundle.tools.sbom import parse_pins  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUNDLE_PATH = "reports/vulnerabilities.json"  # inside the bundle, beside sbom/
MAX_AGE_DAYS = 7  # an older report is refused by the build: the advisories move on
# Parts of the bundle no reachable source describes; listed in every report, so nobody reads silence as safety.
NOT_COVERED = (
    {"component": "Debian packages (the bundle's apt repositories and the image's base)", "locks": [],
     "reason": "Debian's security tracker (security-tracker.debian.org) is not reachable from the build host; "
               "compare the packages' versions with Debian's DSA/DLA list on a connected machine"},
    {"component": "vendored binaries (vendor/artifacts.lock.json)", "locks": [],
     "reason": "no vulnerability source for them is consulted; their versions are pinned in the vendor lock"},
)
REPORT_KEYS = {"generated", "source", "locks", "checked", "findings", "not_checked"}
FINDING_KEYS = {"package", "version", "id", "aliases", "fix_versions", "waived", "reason", "expiry"}


def _utc(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_locks(lock_dir: Path) -> dict[str, bytes]:
    """`wheelhouse/locks/<name>.txt` -> content, for every lock the bundle carries."""
    files = sorted(lock_dir.glob("*.txt"))
    if not files:
        raise BundleError(f"{lock_dir}: no *.txt locks to check; it is made by `make lock` (committed)")
    return {f"wheelhouse/locks/{f.name}": f.read_bytes() for f in files}


def lock_hashes(locks: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest() for name, data in sorted(locks.items())}


def pins(locks: dict[str, bytes]) -> dict[tuple[str, str], list[str]]:
    """(canonical name, version) -> the locks that pin it."""
    out: dict[tuple[str, str], list[str]] = {}
    for lock, data in sorted(locks.items()):
        for name, version, _ in parse_pins(data.decode()):
            out.setdefault((pypi_vulns.canonical_name(name), version), []).append(lock)
    return out


def check(locks: dict[str, bytes], fetch: pypi_vulns.Fetch, now: dt.datetime, workers: int = 8,
          index: str = pypi_vulns.INDEX) -> dict:
    """The unwaived report: one finding per advisory per pinned release."""
    pinned = pins(locks)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(lambda p: pypi_vulns.lookup(*p, fetch=fetch, index=index), pinned)
        answers = dict(zip(pinned, found, strict=True))
    findings, not_checked = [], []
    for (name, version), found in sorted(answers.items()):
        where = pinned[(name, version)]
        if found.advisories is None:
            not_checked.append({"component": f"{name}=={version}", "reason": found.unchecked, "locks": where})
            continue
        for a in found.advisories:
            findings.append({"package": name, "version": version, "id": a.id, "aliases": list(a.aliases),
                             "fix_versions": list(a.fix_versions), "summary": a.summary, "link": a.link,
                             "locks": where, "waived": False, "reason": None, "expiry": None})
    return {"generated": _utc(now), "source": pypi_vulns.SOURCE, "locks": lock_hashes(locks),
            "checked": len(pinned) - len(not_checked), "findings": findings,
            "not_checked": not_checked + [dict(n) for n in NOT_COVERED]}


def apply_waivers(report: dict, given: tuple[waivers.Waiver, ...], path: Path,
                  today: dt.date) -> tuple[dict, list[str]]:
    """The report with each finding's waiver filled in, and the problems that must stop the build."""
    problems = waivers.expired(path, given, today)
    findings = []
    for f in report["findings"]:
        ids = (f["id"], *f["aliases"])
        w = next((w for w in given if w.matches(f["package"], ids) and w.expiry >= today), None)
        findings.append(dict(f, waived=w is not None, reason=w.reason if w else None,
                             expiry=w.expiry.isoformat() if w else None))
        if w is None:
            also = f" ({', '.join(f['aliases'])})" if f["aliases"] else ""
            fix = f"fixed in {', '.join(f['fix_versions'])}" if f["fix_versions"] else "no fixed release yet"
            problems.append(f"{f['package']}=={f['version']}: {f['id']}{also}, {fix}, in "
                            f"{', '.join(f['locks'])}: not waived; upgrade it (`make lock`) or add a reviewed "
                            f"waiver (id, package, reason, expiry) to {path}")
    return dict(report, findings=findings), problems


def dumps(report: dict) -> bytes:
    return (json.dumps(report, sort_keys=True, indent=2) + "\n").encode()


def load_report(path: Path) -> dict:
    try:
        report = json.loads(path.read_text())
    except FileNotFoundError:
        raise BundleError(f"{path}: missing (the vulnerability report); it is made by "
                          "`make vulnerability-report` (needs PyPI); --no-vulnerability-report leaves it out") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: not a vulnerability report ({exc}); run `make vulnerability-report`") from None
    missing = REPORT_KEYS - set(report) if isinstance(report, dict) else REPORT_KEYS
    if missing:
        raise BundleError(f"{path}: not a vulnerability report (no {', '.join(sorted(missing))}); "
                          "run `make vulnerability-report`")
    for i, f in enumerate(report["findings"]):
        if FINDING_KEYS - set(f):
            raise BundleError(f"{path}: findings.{i} lacks {', '.join(sorted(FINDING_KEYS - set(f)))}")
    return report


def for_bundle(path: Path, locks: dict[str, bytes], waiver_path: Path, now: dt.datetime,
               max_age_days: int = MAX_AGE_DAYS) -> bytes:
    """The report to pack, or a BundleError listing every reason it may not be packed."""
    report = load_report(path)
    if report["locks"] != lock_hashes(locks):
        raise BundleError(f"{path}: made from other locks than the ones being bundled; run "
                          "`make vulnerability-report` again")
    try:
        generated = dt.datetime.strptime(report["generated"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        raise BundleError(f"{path}: generated has value {report['generated']!r}: not YYYY-MM-DDTHH:MM:SSZ") from None
    if now - generated > dt.timedelta(days=max_age_days):
        raise BundleError(f"{path}: generated {report['generated']}, more than {max_age_days} days ago; "
                          "run `make vulnerability-report` again")
    report, problems = apply_waivers(report, waivers.load(waiver_path), waiver_path, now.date())
    if problems:
        raise BundleError("known vulnerabilities stop the build:\n  " + "\n  ".join(problems))
    return dumps(report)


def summary(report: dict) -> str:
    waived = sum(f["waived"] for f in report["findings"])
    python = [n for n in report["not_checked"] if n["locks"]]
    return (f"{report['checked']} Python releases checked against {report['source']}: "
            f"{len(report['findings'])} findings ({waived} waived); {len(python)} releases not checked; "
            f"{len(report['not_checked']) - len(python)} other parts not covered")


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bundle/tools/vulnerabilities.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--locks", type=Path, default=ROOT / "wheelhouse/locks")
    p.add_argument("--waivers", type=Path, default=ROOT / "bundle/vulnerability-waivers.yaml")
    p.add_argument("--out", type=Path, default=ROOT / "dist/reports/vulnerabilities.json")
    p.add_argument("--index", default=pypi_vulns.INDEX, help="PyPI's JSON API (default %(default)s)")
    args = p.parse_args(argv)
    now = dt.datetime.now(dt.UTC)
    try:
        given = waivers.load(args.waivers)
        report = check(read_locks(args.locks), pypi_vulns.http_fetch, now, index=args.index)
    except BundleError as exc:
        print(f"vulnerabilities: {exc}", file=sys.stderr)
        return 1
    report, problems = apply_waivers(report, given, args.waivers, now.date())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(dumps(report))
    print(f"vulnerabilities: {summary(report)}; wrote {args.out}")
    for n in report["not_checked"]:
        print(f"  not checked: {n['component']}: {n['reason']}")
    for problem in problems:
        print(f"vulnerabilities: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
