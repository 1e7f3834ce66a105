"""A plain REST API (no MCP) described by `inventory_openapi.json`: the gateway turns it into MCP tools.

LiteLLM reads the spec from `spec_path` and calls this API at the server's `url` for each tool call.
"""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SPEC_PATH = Path(__file__).with_name("inventory_openapi.json")
STOCK = {"widget": 7, "gadget": 0}


async def get_item(request: Request) -> JSONResponse:
    sku = request.path_params["sku"]
    if sku not in STOCK:
        return JSONResponse({"error": f"unknown sku '{sku}'"}, 404)
    return JSONResponse({"sku": sku, "stock": STOCK[sku]})


async def list_items(request: Request) -> JSONResponse:
    in_stock = request.query_params.get("in_stock") == "true"
    return JSONResponse({"skus": sorted(s for s, n in STOCK.items() if n > 0 or not in_stock)})


def build_app() -> Starlette:
    return Starlette(routes=[
        Route("/items", list_items, methods=["GET"]),
        Route("/items/{sku}", get_item, methods=["GET"]),
    ])
