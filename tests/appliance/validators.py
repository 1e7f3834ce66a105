"""The validators the orchestrator targets are held to, all offline: Kubernetes' own OpenAPI schemas
(kubernetes-validate), the Compose Specification's schema (vendored by check-jsonschema), and botocore's
parameter validator over the AWS service models."""

from __future__ import annotations

import json

import botocore.session
import jsonschema
import kubernetes_validate.utils as kv
from botocore.validate import ParamValidator
from check_jsonschema.builtin_schemas import get_builtin_schema

KUBERNETES = kv.latest_version()  # the newest release the installed package carries


def kubernetes(obj: dict) -> str:
    """Raises kubernetes_validate's ValidationError; strict: an unknown field is an error too."""
    return kv.validate(obj, KUBERNETES, strict=True)


def compose(project: dict) -> None:
    schema = get_builtin_schema("vendor.compose-spec")
    jsonschema.validators.validator_for(schema)(schema).validate(project)


def aws(service: str, operation: str, params: dict) -> str:
    """'' when valid, else botocore's report (missing, unknown and mistyped parameters)."""
    shape = botocore.session.get_session().get_service_model(service).operation_model(operation).input_shape
    report = ParamValidator().validate(json.loads(json.dumps(params)), shape)
    return report.generate_report() if report.has_errors() else ""
