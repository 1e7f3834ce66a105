"""One error hierarchy: library code raises these, only the CLI turns them into exit codes."""


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """A configuration file is invalid; the message names the file and the key."""

    def __init__(self, source: str, key: str, problem: str):
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}")


class ArtifactError(GatewayError):
    """A routing artifact cannot be used (missing, corrupt, other format, wrong candidates)."""


class RoutingError(GatewayError):
    """A routing strategy could not reach a decision."""
