"""The project's only fake: an OpenAI-compatible LLM provider on loopback, with injectable behaviour.

    handle = start_fake_upstream()                 # free port, background thread
    handle.set_behaviour("model-x", fail="rate_limit", retry_after=2)
    litellm.acompletion(model="openai/model-x", api_base=handle.base_url, api_key="x", ...)
    handle.requests()                              # what it received
    handle.stop()

Or out of process: `python -m tests.fake_upstream --port 8001 --config behaviour.yaml`, changed
at run time through `/_control/*` (see `app.py`).
"""

from tests.fake_upstream.app import FakeUpstream, create_app
from tests.fake_upstream.behaviour import Behaviour, FakeConfig, Rule, load_config
from tests.fake_upstream.server import FakeUpstreamHandle, start_fake_upstream

__all__ = [
    "Behaviour",
    "FakeConfig",
    "FakeUpstream",
    "FakeUpstreamHandle",
    "Rule",
    "create_app",
    "load_config",
    "start_fake_upstream",
]
