"""The one door to PyPI's vulnerability data: the JSON API's `vulnerabilities` field (OSV: PYSEC, GHSA).

`lookup(name, version, fetch)` asks `https://pypi.org/pypi/<name>/<version>/json`. Measured on
2026-12-03 from this kind of build machine: that per-version endpoint answers 404 for every release
(the network's PyPI proxy passes only `/pypi/<name>/json`), while the project document answers and
carries the vulnerabilities of the *latest* release. So a 404 is never taken to mean "no
vulnerabilities": the project document decides whether the release exists, whether it is the latest
(then its `vulnerabilities` apply) or whether the pin stays unchecked, with the reason. Any other
failure (network, 5xx, bad JSON) stops the check: a report must never look clean because the source
was down. `fetch` is injected so tests replay recorded answers.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from bundle.tools.errors import BundleError

INDEX = "https://pypi.org/pypi"
SOURCE = "PyPI JSON API, field 'vulnerabilities' (OSV advisories: PYSEC, GHSA)"
# (status, body) for a GET; a 404 is an answer, every other failure raises.
Fetch = Callable[[str], tuple[int, bytes]]


def http_fetch(url: str, timeout: float = 60.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "gateway-appliance-bundle"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https, fixed host)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return 404, b""
        raise BundleError(f"{url}: PyPI answered {exc.code} {exc.reason}; the vulnerability check cannot "
                          "run (try again, or check the build host's access to pypi.org)") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise BundleError(f"{url}: PyPI is not reachable ({exc}); the vulnerability check needs the "
                          "connected build host") from None


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    fix_versions: tuple[str, ...]
    summary: str
    link: str


@dataclass(frozen=True)
class Lookup:
    """Either `advisories` (checked; may be empty) or `unchecked` (the reason it could not be)."""

    advisories: tuple[Advisory, ...] | None
    unchecked: str | None = None
    via: str = ""


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def public_version(version: str) -> str:
    """`2.13.0+cpu` -> `2.13.0`: a local build of a release carries that release's advisories."""
    return version.split("+", 1)[0]


def _json(url: str, body: bytes) -> dict:
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise BundleError(f"{url}: not JSON ({exc}); the vulnerability check cannot trust this answer") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities", []), list):
        raise BundleError(f"{url}: no 'vulnerabilities' list in PyPI's answer; has the API changed?")
    return doc


def advisories(doc: dict) -> tuple[Advisory, ...]:
    """The advisories of one PyPI JSON document: withdrawn ones left out, and one entry per flaw (PyPI
    lists a PYSEC and a GHSA record for the same CVE; they are merged when their ids and aliases meet)."""
    merged: list[dict] = []
    for v in doc.get("vulnerabilities") or []:
        if v.get("withdrawn"):
            continue
        text = (v.get("summary") or v.get("details") or "").strip().splitlines()
        names = {str(v["id"]), *(v.get("aliases") or ())}
        same = next((m for m in merged if m["names"] & names), None)
        if same is None:
            merged.append({"names": names, "ids": [str(v["id"])], "fix": set(v.get("fixed_in") or ()),
                           "summary": text[0][:200] if text else "", "link": str(v.get("link") or "")})
        else:
            same["names"] |= names
            same["ids"].append(str(v["id"]))
            same["fix"] |= set(v.get("fixed_in") or ())
    out = []
    for m in merged:
        main = min(m["ids"], key=lambda i: (not i.startswith("PYSEC-"), i))  # PyPI's own id first
        out.append(Advisory(id=main, aliases=tuple(sorted(m["names"] - {main})), fix_versions=tuple(sorted(m["fix"])),
                            summary=m["summary"], link=m["link"]))
    return tuple(sorted(out, key=lambda a: a.id))


def _same_release(a: str, b: str) -> bool:
    try:
        from packaging.version import InvalidVersion, Version
        try:
            return Version(a) == Version(b)
        except InvalidVersion:
            return a == b
    except ImportError:
        return a == b


def lookup(name: str, version: str, fetch: Fetch = http_fetch, index: str = INDEX) -> Lookup:
    project = canonical_name(name)
    release = public_version(version)
    url = f"{index}/{project}/{release}/json"
    status, body = fetch(url)
    if status == 200:
        return Lookup(advisories(_json(url, body)), via=url)
    project_url = f"{index}/{project}/json"
    status, body = fetch(project_url)
    if status == 404:
        return Lookup(None, f"{project} is not on PyPI (a local or private package)", via=project_url)
    doc = _json(project_url, body)
    releases = doc.get("releases") or {}
    if not any(_same_release(release, r) for r in releases):
        return Lookup(None, f"PyPI has no release {release} of {project}", via=project_url)
    latest = str((doc.get("info") or {}).get("version", ""))
    if _same_release(release, latest):
        return Lookup(advisories(doc), via=f"{project_url} (latest release)")
    return Lookup(None, f"{url} answered 404 although PyPI lists {release} (the per-version JSON API is not "
                        f"reachable from this build host); the project document covers only the latest release, "
                        f"{latest}", via=project_url)
