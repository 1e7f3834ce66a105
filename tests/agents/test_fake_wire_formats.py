"""The fake upstream's Skills and tool-calling additions on their own (no gateway): fast checks
that they refuse and answer as documented, so gateway test failures point at the gateway."""

from __future__ import annotations

import json

import httpx

from tests.fake_upstream.skills import SKILLS_BETA, check_bundle
from tests.fake_upstream.tool_calling import reply

SKILL_MD = b"---\nname: x\ndescription: does x\n---\nbody\n"
HEADERS = {"x-api-key": "k", "anthropic-beta": SKILLS_BETA, "anthropic-version": "2023-06-01"}


def test_bundle_rules():
    assert check_bundle({"x/SKILL.md": SKILL_MD, "x/a.py": b""}) is None
    assert "top-level" in check_bundle({"SKILL.md": SKILL_MD})
    assert "SKILL.md" in check_bundle({"x/README.md": b""})
    assert "frontmatter" in check_bundle({"x/SKILL.md": b"no front matter"})


def test_skills_api_needs_key_and_beta(upstream):
    url = f"{upstream.url}/v1/skills"
    assert httpx.get(url, headers={"anthropic-beta": SKILLS_BETA}).json()["error"]["type"] == "authentication_error"
    refused = httpx.get(url, headers={"x-api-key": "k"})
    assert refused.status_code == 400 and SKILLS_BETA in refused.json()["error"]["message"]
    created = httpx.post(url, headers=HEADERS, files=[("files[]", ("x/SKILL.md", SKILL_MD, "text/markdown"))])
    assert created.status_code == 200 and created.json()["display_title"] is None
    skill_id = created.json()["id"]
    assert httpx.delete(f"{url}/{skill_id}", headers=HEADERS).json() == {"type": "skill_deleted", "id": skill_id}


def test_tool_calling_model_calls_then_answers():
    tools = [{"type": "function", "function": {"name": "srv-add"}}]
    ask = {"role": "user", "content": json.dumps({"call": "add", "arguments": {"a": 1}})}
    message, finish = reply({"messages": [ask], "tools": tools})
    assert finish == "tool_calls" and message["tool_calls"][0]["function"]["name"] == "srv-add"
    result = {"role": "tool", "tool_call_id": "c", "content": "2"}
    assert reply({"messages": [ask, message, result], "tools": tools}) == (
        {"role": "assistant", "content": "tool result: 2"}, "stop")
    assert reply({"messages": [{"role": "user", "content": "hi"}], "tools": tools})[1] == "stop"
