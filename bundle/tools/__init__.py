"""The USB bundle: `build.py` makes it on the connected side; `bundle/install.sh` verifies it on the far side.

Modules: `inputs` (what goes in, from where, and which make target produces it), `archive` (the reproducible
tar.zst; SHA256SUMS is `gateway.sums`), `signing` (Ed25519), `sbom` (CycloneDX documents),
`vulnerabilities` (the report of known vulnerabilities, from `pypi_vulns`, with reviewed `waivers`), `build` (the
command line).
docs/moat-mode.md describes the bundle from the operator's side.
"""
