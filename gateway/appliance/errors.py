"""Errors of the appliance package; all are GatewayError so the CLI handles them in one place."""

from gateway.errors import GatewayError


class ManifestError(GatewayError):
    """The manifest is invalid; `problems` holds one `path: problem` line per error."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid manifest\n" + "\n".join(f"  {p}" for p in problems))


class PkiError(GatewayError):
    """Certificates cannot be issued, renewed or revoked (missing CA key, unknown identity...)."""


class ToolError(GatewayError):
    """An external program the appliance relies on (nft, dot, ss) is missing or failed."""
