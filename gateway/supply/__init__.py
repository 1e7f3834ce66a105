"""The appliance bundle read from the gateway: verify, inspect and diff (`gateway bundle ...`).

The bundle is made by bundle/tools/build.py on the connected side; `bundle/install.sh verify` checks
it with shell tools on the far side. This package reads the same bundle in one streaming pass (a
`.tar.zst` is never unpacked to be looked at): `reader` (members, hashes, metadata), `verify`
(structure, signature, SHA256SUMS), `inventory` (packages, wheels, images, vendored binaries, SBOMs,
vulnerability report), `report` (the text of inspect), `diff` (two inventories), `cli` (the commands).
"""
