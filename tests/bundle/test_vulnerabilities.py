"""The bundle's vulnerability report: PyPI's answers read right, waivers reviewed, the build stopped.

Fast tests replay `recorded/pypi-pycrypto.json`, PyPI's real project document for pycrypto (its
latest release, 2.6.1, carries two advisories, each listed twice: PYSEC and GHSA), recorded on
2026-12-03 with the file lists of its releases emptied. One test asks PyPI for real.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bundle.tools import pypi_vulns, vulnerabilities, waivers
from bundle.tools.errors import BundleError
from tests.bundle import synthetic

RECORDED = json.loads((Path(__file__).parent / "recorded/pypi-pycrypto.json").read_text())
PROJECT = "https://pypi.org/pypi/pycrypto/json"
RELEASE = "https://pypi.org/pypi/pycrypto/2.6.1/json"
NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
LOCK = "pycrypto==2.6.1 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via -r x.in\nsix==1.17.0 \\\n    --hash=sha256:" \
       + "b" * 64 + "\n"


def replay(answers: dict[str, dict | None]):
    """A fetch that answers from `answers` (None: 404) and fails on any URL it was not told about."""
    def fetch(url: str) -> tuple[int, bytes]:
        if url not in answers:
            raise AssertionError(f"unexpected request {url}")
        doc = answers[url]
        return (404, b"") if doc is None else (200, json.dumps(doc).encode())
    return fetch


def per_version(doc: dict) -> dict:
    """PyPI's per-version document has the same keys as the project's, without `releases`."""
    return {k: v for k, v in doc.items() if k != "releases"}


def test_a_release_document_gives_one_finding_per_flaw_with_aliases_and_withdrawn_ones_dropped():
    doc = per_version(RECORDED)
    doc["vulnerabilities"] = [*doc["vulnerabilities"], dict(doc["vulnerabilities"][0], id="PYSEC-9999-1",
                                                            aliases=["CVE-9999-1"], withdrawn="2026-01-01T00:00:00")]
    found = pypi_vulns.lookup("PyCrypto", "2.6.1", fetch=replay({RELEASE: doc}))
    assert [a.id for a in found.advisories] == ["PYSEC-2017-94", "PYSEC-2018-97"]
    assert found.advisories[0].aliases == ("CVE-2013-7459", "GHSA-cq27-v7xp-c356")
    assert found.advisories[0].summary.startswith("Heap-based buffer overflow")


def test_when_the_release_endpoint_answers_404_the_latest_release_is_read_from_the_project_document():
    found = pypi_vulns.lookup("pycrypto", "2.6.1", fetch=replay({RELEASE: None, PROJECT: RECORDED}))
    assert [a.id for a in found.advisories] == ["PYSEC-2017-94", "PYSEC-2018-97"]
    assert "latest release" in found.via


def test_an_older_release_behind_a_404_is_not_checked_rather_than_called_clean():
    found = pypi_vulns.lookup("pycrypto", "2.6", fetch=replay({"https://pypi.org/pypi/pycrypto/2.6/json": None,
                                                              PROJECT: RECORDED}))
    assert found.advisories is None
    assert "answered 404 although PyPI lists 2.6" in found.unchecked and "2.6.1" in found.unchecked


@pytest.mark.parametrize(("version", "project", "reason"), [
    ("9.9", RECORDED, "PyPI has no release 9.9 of pycrypto"),
    ("2.6.1", None, "pycrypto is not on PyPI"),
])
def test_a_release_pypi_does_not_know_is_named_as_not_checked(version, project, reason):
    found = pypi_vulns.lookup("pycrypto", version, fetch=replay({f"https://pypi.org/pypi/pycrypto/{version}/json": None,
                                                                 PROJECT: project}))
    assert found.advisories is None and found.unchecked.startswith(reason)


def test_a_local_build_is_checked_as_its_public_release():
    found = pypi_vulns.lookup("pycrypto", "2.6.1+cpu", fetch=replay({RELEASE: per_version(RECORDED)}))
    assert len(found.advisories) == 2


def test_a_source_that_fails_stops_the_check_instead_of_reporting_nothing():
    def broken(url):
        raise BundleError(f"{url}: PyPI answered 503 Service Unavailable")
    with pytest.raises(BundleError, match="503"):
        vulnerabilities.check({"wheelhouse/locks/x.txt": LOCK.encode()}, broken, NOW)
    with pytest.raises(BundleError, match="not JSON"):
        pypi_vulns.lookup("pycrypto", "2.6.1", fetch=lambda url: (200, b"<html>"))


def _report(lock: str = LOCK) -> dict:
    fetch = replay({RELEASE: per_version(RECORDED), "https://pypi.org/pypi/six/1.17.0/json": None,
                    "https://pypi.org/pypi/six/json": None})
    return vulnerabilities.check({"wheelhouse/locks/x.txt": lock.encode()}, fetch, NOW)


def test_the_report_has_the_agreed_shape_and_says_what_it_could_not_check():
    report = json.loads(vulnerabilities.dumps(_report()))
    assert vulnerabilities.REPORT_KEYS <= set(report) and report["generated"] == "2026-12-03T12:00:00Z"
    assert report["checked"] == 1 and len(report["findings"]) == 2
    first = report["findings"][0]
    assert vulnerabilities.FINDING_KEYS <= set(first)
    assert (first["package"], first["version"], first["id"], first["waived"], first["reason"], first["expiry"]) == (
        "pycrypto", "2.6.1", "PYSEC-2017-94", False, None, None)
    assert first["locks"] == ["wheelhouse/locks/x.txt"]
    unchecked = {n["component"]: n["reason"] for n in report["not_checked"]}
    assert unchecked["six==1.17.0"] == "six is not on PyPI (a local or private package)"
    assert any("security-tracker.debian.org" in r for r in unchecked.values())


def _waivers(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vulnerability-waivers.yaml"
    path.write_text(text)
    return path


def test_a_waiver_matches_by_alias_and_an_unwaived_finding_is_a_problem_naming_the_fix(tmp_path):
    path = _waivers(tmp_path, "waivers:\n  - id: CVE-2013-7459\n    package: PyCrypto\n"
                              "    reason: the ALGnew path is never reached (reviewed)\n    expiry: 2027-01-31\n")
    report, problems = vulnerabilities.apply_waivers(_report(), waivers.load(path), path, NOW.date())
    waived = {f["id"]: (f["waived"], f["expiry"]) for f in report["findings"]}
    assert waived == {"PYSEC-2017-94": (True, "2027-01-31"), "PYSEC-2018-97": (False, None)}
    assert len(problems) == 1 and "pycrypto==2.6.1: PYSEC-2018-97 (CVE-2018-6594" in problems[0]
    assert str(path) in problems[0] and "make lock" in problems[0]


def test_an_expired_waiver_is_a_problem_even_when_nothing_matches_it(tmp_path):
    path = _waivers(tmp_path, "waivers:\n  - id: GHSA-xxxx\n    package: other\n"
                              "    reason: accepted until the next release\n    expiry: 2026-12-02\n")
    _, problems = vulnerabilities.apply_waivers({"findings": []}, waivers.load(path), path, NOW.date())
    assert problems == [f"{path}: waivers.0: GHSA-xxxx for other expired on 2026-12-02; review it again "
                        "(new expiry) or fix the finding"]


@pytest.mark.parametrize(("text", "named"), [
    ("waivers:\n  - id: X\n    package: p\n    reason: long enough reason\n    expiry: 2027-01-01\n    by: me\n",
     "waivers.0.by: Extra inputs are not permitted"),
    ("waivers:\n  - id: X\n    package: p\n    reason: long enough reason\n    expiry: soon\n", "waivers.0.expiry"),
    ("waivers:\n  - id: X\n    package: p\n    expiry: 2027-01-01\n", "waivers.0.reason: Field required"),
    ("waivers: [\n", "cannot read the waivers"),
])
def test_a_bad_waivers_file_is_refused_naming_the_file_and_the_key(tmp_path, text, named):
    path = _waivers(tmp_path, text)
    with pytest.raises(BundleError) as err:
        waivers.load(path)
    assert str(path) in str(err.value) and named in str(err.value)


# The build: the report is an input, checked against the locks, its age and the waivers of the day.

def _repo_with_finding(repo: Path, tmp_path: Path, waiver: str | None) -> Path:
    copy = shutil.copytree(repo, tmp_path / "repo")
    (copy / "wheelhouse/locks/extra.txt").write_text(LOCK)
    synthetic.write_vulnerability_report(copy, replay({RELEASE: per_version(RECORDED),
                                                       "https://pypi.org/pypi/six/1.17.0/json": None,
                                                       "https://pypi.org/pypi/six/json": None}))
    if waiver:
        (copy / "bundle/vulnerability-waivers.yaml").write_text(waiver)
    return copy


def test_the_bundle_carries_the_report_beside_the_sboms_and_bundle_info_sums_it_up(built, tmp_path):
    top = synthetic.unpack(built, tmp_path)
    report = json.loads((top / "reports/vulnerabilities.json").read_text())
    assert report["findings"] == [] and report["locks"].keys() == {
        "wheelhouse/locks/runtime-linux-amd64.txt", "wheelhouse/locks/runtime-linux-arm64.txt"}
    info = (top / "BUNDLE-INFO").read_text()
    assert "VULNERABILITIES=reports/vulnerabilities.json: 0 Python releases checked" in info


def test_an_unwaived_finding_stops_the_build_and_nothing_is_signed(repo, key, tmp_path):
    copy = _repo_with_finding(repo, tmp_path, None)
    result = synthetic.build(copy, tmp_path / "out", key)
    assert result.returncode == 1
    assert "known vulnerabilities stop the build" in result.stderr and "PYSEC-2017-94" in result.stderr
    assert not list((tmp_path / "out").glob("*.tar.zst"))


def test_waived_findings_pass_and_the_bundle_says_who_accepted_them_until_when(repo, key, tmp_path):
    waiver = "".join(f"  - id: {i}\n    package: pycrypto\n    reason: not imported by the gateway (reviewed)\n"
                     f"    expiry: {(dt.date.today() + dt.timedelta(days=30)).isoformat()}\n"
                     for i in ("PYSEC-2017-94", "GHSA-6528-wvf6-f6qg"))
    copy = _repo_with_finding(repo, tmp_path, "waivers:\n" + waiver)
    result = synthetic.build(copy, tmp_path / "out", key)
    assert result.returncode == 0, result.stderr
    top = synthetic.unpack(synthetic.bundle_path(tmp_path / "out"), tmp_path / "x")
    findings = json.loads((top / "reports/vulnerabilities.json").read_text())["findings"]
    assert [f["waived"] for f in findings] == [True, True]
    assert findings[0]["reason"] == "not imported by the gateway (reviewed)"


def test_a_report_made_from_other_locks_or_too_long_ago_is_refused(repo, key, tmp_path):
    copy = shutil.copytree(repo, tmp_path / "repo")
    (copy / "wheelhouse/locks/runtime-linux-amd64.txt").write_text("# lock, changed after the report\n")
    result = synthetic.build(copy, tmp_path / "out", key)
    assert result.returncode == 1 and "made from other locks" in result.stderr
    synthetic.write_vulnerability_report(copy, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=8))
    result = synthetic.build(copy, tmp_path / "out", key)
    assert result.returncode == 1 and "more than 7 days ago" in result.stderr


def test_a_missing_report_is_named_with_its_make_target_and_can_be_left_out_on_purpose(repo, key, tmp_path):
    copy = shutil.copytree(repo, tmp_path / "repo")
    (copy / "dist/reports/vulnerabilities.json").unlink()
    result = synthetic.build(copy, tmp_path / "out", key)
    assert result.returncode == 1 and "make vulnerability-report" in result.stderr
    result = synthetic.build(copy, tmp_path / "out", key, "--no-vulnerability-report")
    assert result.returncode == 0, result.stderr
    top = synthetic.unpack(synthetic.bundle_path(tmp_path / "out"), tmp_path / "x")
    assert not (top / "reports").exists()
    assert "VULNERABILITIES=omitted (--no-vulnerability-report)" in (top / "BUNDLE-INFO").read_text()


def test_pypi_for_real_finds_the_advisories_of_a_known_vulnerable_release(tmp_path):
    """The one test that asks PyPI (the connected side's source): pycrypto 2.6.1 is known vulnerable."""
    locks = tmp_path / "locks"
    locks.mkdir()
    (locks / "old.txt").write_text(LOCK)
    out = tmp_path / "report.json"
    result = subprocess.run([sys.executable, str(synthetic.ROOT / "bundle/tools/vulnerabilities.py"), "--locks",
                             str(locks), "--waivers", str(tmp_path / "none.yaml"), "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    findings = json.loads(out.read_text())["findings"]
    ids = {f["id"] for f in findings if f["package"] == "pycrypto"}
    assert {"PYSEC-2017-94", "PYSEC-2018-97"} <= ids, findings
    assert "PYSEC-2017-94" in result.stderr and "not waived" in result.stderr
