"""A real MCP server built with the `mcp` SDK (2.x `MCPServer`), servable over every transport.

The same three tools on each transport; `whoami` answers with the transport's label so a test
can prove which server the gateway reached.

    python -m tests.agents.mcp_peer stdio     # what the gateway launches for `transport: stdio`
"""

from __future__ import annotations

import sys

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette


def build_server(label: str) -> MCPServer:
    server = MCPServer(f"peer-{label}", instructions="Test peer for the gateway's MCP tests.", log_level="WARNING")

    @server.tool(description="Add two integers and return the sum.")
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(description="Return the text reversed.")
    def reverse(text: str) -> str:
        return text[::-1]

    @server.tool(description="Say which MCP transport served this call.")
    def whoami() -> str:
        return f"served over {label}"

    return server


def streamable_http_app() -> Starlette:
    """Streamable HTTP at `/mcp` (needs lifespan: the session manager runs in it)."""
    return build_server("streamable_http").streamable_http_app(streamable_http_path="/mcp")


def sse_app() -> Starlette:
    """Legacy HTTP+SSE: the event stream at `/sse`, client messages posted to `/messages/`."""
    return build_server("sse").sse_app()


def main(argv: list[str]) -> int:
    if argv != ["stdio"]:
        print("usage: python -m tests.agents.mcp_peer stdio", file=sys.stderr)
        return 2
    build_server("stdio").run("stdio")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
