"""YAML and JSON as every target writes them: the generated-file header, stable key order, no anchors."""

from __future__ import annotations

import json

import yaml

from gateway.appliance.files import header


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data):  # a shared dict is written twice, never as an anchor a reader must follow
        return True


def yaml_documents(objects: list[dict], manifest_name: str, sha256: str) -> str:
    body = "---\n".join(yaml.dump(o, Dumper=_NoAliases, sort_keys=False, width=120) for o in objects)
    return header(manifest_name, sha256, "# ") + body


def json_document(obj: dict) -> str:
    """JSON has no comments: the header goes into the caller's `_generated` note, not here."""
    return json.dumps(obj, indent=2) + "\n"


def generated_note(manifest_name: str, sha256: str) -> str:
    return " ".join(header(manifest_name, sha256, "").split())
