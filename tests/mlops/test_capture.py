"""Capture is off by default and selects teams or keys; a bad GATEWAY_CAPTURE names the item."""

from __future__ import annotations

import pytest

from gateway.errors import ConfigError


def test_capture_selection():
    from gateway.proxy.feedback import CaptureHook, capture_selector

    assert capture_selector(None) == (False, frozenset(), frozenset())
    assert capture_selector("all")[0] is True
    assert capture_selector("team:research, key:eval-bot") == (False, frozenset({"research"}), frozenset({"eval-bot"}))
    with pytest.raises(ConfigError, match="GATEWAY_CAPTURE.*'teams:x' is not off, all"):
        capture_selector("teams:x")
    hook = CaptureHook()
    hook.capture_all, hook.teams, hook.keys = capture_selector("team:research,key:eval-bot")
    assert hook.selected({"user_api_key_team_id": "research"})
    assert hook.selected({"user_api_key_alias": "eval-bot"})
    assert not hook.selected({"user_api_key_team_id": "sales", "user_api_key_hash": "abc"})
