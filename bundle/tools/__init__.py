"""The USB bundle: `build.py` makes it on the connected side; `bundle/install.sh` verifies it on the far side.

Modules: `inputs` (what goes in, from where, and which make target produces it), `archive` (SHA256SUMS and
the reproducible tar.zst), `signing` (Ed25519), `sbom` (CycloneDX documents), `build` (the command line).
docs/moat-mode.md describes the bundle from the operator's side.
"""
