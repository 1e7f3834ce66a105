"""Anthropic's Skills API (beta `skills-2025-10-02`) on the fake upstream: create, list, get, delete.

Wire format as Anthropic documents it:
    POST   /v1/skills              multipart: `display_title`, `files[]` (one top-level dir with SKILL.md)
    GET    /v1/skills              ?limit=1..100 (20) &page=<next_page> &source=custom|anthropic
    GET    /v1/skills/{skill_id}
    DELETE /v1/skills/{skill_id}   -> {"type": "skill_deleted", "id": ...}
Requests need `x-api-key` (or a Bearer token) and `anthropic-beta` naming `skills-2025-10-02`;
errors are Anthropic's `{"type": "error", "error": {"type": ..., "message": ...}}`.
Skills live in memory; `AnthropicSkills.files(skill_id)` shows what was uploaded.
"""

from __future__ import annotations

import datetime
import secrets
import threading
import time
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fake_upstream.behaviour import FakeState

SKILLS_BETA = "skills-2025-10-02"
_RECORDED = ("x-api-key", "authorization", "anthropic-version", "anthropic-beta", "content-type")


def _error(status: int, kind: str, message: str) -> JSONResponse:
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def frontmatter(text: str) -> dict[str, str]:
    """`key: value` lines between the leading `---` fences of a SKILL.md (no YAML library needed)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return fields
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip().strip("\"'")
    return {}


def check_bundle(files: dict[str, bytes]) -> str | None:
    """Why Anthropic would refuse these files, or None: one top-level directory, SKILL.md at its root."""
    if not files:
        return "files: at least one file is required"
    tops = {name.split("/", 1)[0] for name in files}
    if any("/" not in name for name in files) or len(tops) != 1:
        return "files: all files must be in the same top-level directory"
    skill_md = files.get(f"{tops.pop()}/SKILL.md")
    if skill_md is None:
        return "files: SKILL.md must be at the root of the top-level directory"
    meta = frontmatter(skill_md.decode("utf-8", errors="replace"))
    if not meta.get("name") or not meta.get("description"):
        return "SKILL.md: YAML frontmatter must set 'name' and 'description'"
    return None


class AnthropicSkills:
    """The Skills routes plus their in-memory store; shares the fake's request log."""

    def __init__(self, state: FakeState):
        self._state = state
        self._lock = threading.Lock()
        self._skills: dict[str, dict[str, Any]] = {}
        self._files: dict[str, dict[str, bytes]] = {}

    def routes(self) -> list[Route]:
        return [
            Route("/v1/skills", self.collection, methods=["GET", "POST"]),
            Route("/v1/skills/{skill_id}", self.item, methods=["GET", "DELETE"]),
        ]

    def files(self, skill_id: str) -> dict[str, bytes]:
        with self._lock:
            return dict(self._files.get(skill_id, {}))

    def reset(self) -> None:
        with self._lock:
            self._skills.clear()
            self._files.clear()

    # -- HTTP ---------------------------------------------------------------------------------
    def _refusal(self, request: Request, body: Any) -> Response | None:
        headers = {k: v for k, v in request.headers.items() if k in _RECORDED}
        self._state.record({"path": request.url.path, "method": request.method, "model": "",
                            "headers": headers, "body": body, "fail": None})
        if not request.headers.get("x-api-key") and not request.headers.get("authorization"):
            return _error(401, "authentication_error", "x-api-key header is required")
        betas = [b.strip() for b in request.headers.get("anthropic-beta", "").split(",")]
        if SKILLS_BETA not in betas:
            return _error(400, "invalid_request_error",
                          f"the Skills API is in beta: send 'anthropic-beta: {SKILLS_BETA}'")
        return None

    async def collection(self, request: Request) -> Response:
        if request.method == "GET":
            return self._list(request)
        return await self._create(request)

    async def item(self, request: Request) -> Response:
        skill_id = request.path_params["skill_id"]
        if (refusal := self._refusal(request, None)) is not None:
            return refusal
        with self._lock:
            skill = self._skills.get(skill_id)
            if skill is not None and request.method == "DELETE":
                del self._skills[skill_id]
                self._files.pop(skill_id, None)
        if skill is None:
            return _error(404, "not_found_error", f"skill '{skill_id}' not found")
        if request.method == "DELETE":
            return JSONResponse({"type": "skill_deleted", "id": skill_id})
        return JSONResponse(skill)

    async def _create(self, request: Request) -> Response:
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            self._refusal(request, None)
            return _error(400, "invalid_request_error", "create a skill with multipart/form-data and files[]")
        form = await request.form()
        files = {}
        for key, value in form.multi_items():
            if key in ("files", "files[]") and isinstance(value, UploadFile):
                files[value.filename or ""] = await value.read()
        title = form.get("display_title")
        title = title if isinstance(title, str) and title else None
        if (refusal := self._refusal(request, {"display_title": title, "files": sorted(files)})) is not None:
            return refusal
        if (problem := check_bundle(files)) is not None:
            return _error(400, "invalid_request_error", problem)
        now = _now()
        skill = {
            "type": "skill",
            "id": f"skill_01{secrets.token_hex(12)}",
            "display_title": title,
            "latest_version": str(time.time_ns() // 1000),
            "source": "custom",
            "created_at": now,
            "updated_at": now,
        }
        with self._lock:
            self._skills[skill["id"]] = skill
            self._files[skill["id"]] = files
        return JSONResponse(skill)

    def _list(self, request: Request) -> Response:
        if (refusal := self._refusal(request, dict(request.query_params))) is not None:
            return refusal
        try:
            limit = int(request.query_params.get("limit", "20"))
            offset = int(request.query_params.get("page") or "0")
        except ValueError:
            return _error(400, "invalid_request_error", "limit and page must be integers")
        if not 1 <= limit <= 100:
            return _error(400, "invalid_request_error", "limit: must be between 1 and 100")
        source = request.query_params.get("source")
        with self._lock:
            skills = [s for s in self._skills.values() if source in (None, s["source"])]
        page = skills[offset: offset + limit]
        more = offset + limit < len(skills)
        return JSONResponse({"data": page, "has_more": more, "next_page": str(offset + limit) if more else None})
