"""Auth failures LiteLLM words otherwise become OpenAI's 401/403 (no server; LiteLLM's own code)."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from starlette.requests import Request

from gateway.proxy import openai_errors
from gateway.proxy.openai_errors import classify


def request(path: str, method: str = "POST") -> Request:
    return Request({"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"",
                    "headers": [(b"content-type", b"application/json")], "client": ("127.0.0.1", 1)})


@pytest.fixture(scope="module")
def handler():
    """The gateway's ProxyException handler in front of LiteLLM's own, as `install` puts it."""
    from litellm.proxy._types import ProxyException
    from litellm.proxy.proxy_server import openai_exception_handler

    app = FastAPI()
    app.add_exception_handler(ProxyException, openai_exception_handler)
    openai_errors.install(app)
    return app.exception_handlers[ProxyException]


async def render(handler, path, exc):
    response = await handler(request(path), exc)
    return response.status_code, json.loads(bytes(response.body))["error"]


def test_classification():
    assert classify("no_db_connection", "400", "No connected db.", False) == \
        (401, "Incorrect API key provided.", "invalid_api_key")
    assert classify("no_db_connection", "503", "database down", True) is None  # an outage stays a 503
    assert classify("auth_error", "401", "Authentication Error, No api key passed in.", True)[:1] == (401,)
    assert classify("auth_error", "401", "Authentication Error, No api key passed in.", False) is None
    assert classify("auth_error", "403", "key not allowed", True) is None
    assert classify("bad_request_error", "400", "Invalid JSON payload", True) is None


async def test_no_db_key_rejection_is_401_on_every_route(handler):
    from litellm.proxy._types import ProxyErrorTypes, ProxyException

    for path in ("/v1/chat/completions", "/key/generate"):
        exc = ProxyException("No connected db.", type=ProxyErrorTypes.no_db_connection, param=None, code=400)
        status, error = await render(handler, path, exc)
        assert status == 401
        assert error == {"message": "Incorrect API key provided.", "type": "invalid_request_error", "param": None,
                         "code": "invalid_api_key"}


async def test_other_errors_keep_litellms_answer(handler):
    from litellm.proxy._types import ProxyException

    exc = ProxyException("Invalid JSON payload: x", type="invalid_request_error", param="request_body", code=400)
    status, error = await render(handler, "/v1/chat/completions", exc)
    assert (status, error["code"], error["param"]) == (400, "400", "request_body")
    status, error = await render(handler, "/sso/callback",
                                 ProxyException("bad login", type="auth_error", param="None", code=401))
    assert (status, error["type"]) == (401, "auth_error")


@pytest.mark.parametrize("route", ["/user/new", "/config/update", "/hot-reload/status"])
async def test_non_admin_key_on_an_admin_route_is_403(handler, route):
    """A non-admin key exists only in LiteLLM's database, and the database needs Prisma's native
    engines, which cannot be had on these machines: a real request with such a key cannot be made
    here. This runs every step after the key lookup with LiteLLM's own code: its route check for
    an internal user's key on an admin-only route, its authentication-error handler (which
    answers 401), then the gateway's handler, which answers 403.
    """
    from litellm.proxy._types import LitellmUserRoles, ProxyException, UserAPIKeyAuth
    from litellm.proxy.auth.auth_exception_handler import UserAPIKeyAuthExceptionHandler
    from litellm.proxy.auth.route_checks import RouteChecks

    key = UserAPIKeyAuth(api_key="sk-internal-user", user_role=LitellmUserRoles.INTERNAL_USER, user_id="u1")
    with pytest.raises(Exception, match=openai_errors.ADMIN_ONLY_MARKER) as refused:
        RouteChecks.non_proxy_admin_allowed_routes_check(
            user_obj=None, _user_role=LitellmUserRoles.INTERNAL_USER, route=route, request=request(route),
            valid_token=key, request_data={})
    with pytest.raises(ProxyException) as litellm_answer:
        await UserAPIKeyAuthExceptionHandler.handle_authentication_error(
            refused.value, request=request(route), request_data={}, route=route, parent_otel_span=None,
            api_key="sk-internal-user")
    assert litellm_answer.value.code == "401"  # what LiteLLM alone would answer

    status, error = await render(handler, route, litellm_answer.value)
    assert status == 403
    assert error["code"] == "insufficient_permissions" and error["param"] is None
    assert error["message"].startswith(openai_errors.ADMIN_ONLY_MARKER)
