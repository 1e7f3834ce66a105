"""What gateway.proxy.response_cache relies on in the pinned LiteLLM: the response cache's memory
tier is one module-level InMemoryCache, wrapped in a DualCache only in front of Redis, and
`max_size_in_memory = 0` makes it store nothing. If an upgrade moves these, this fails first."""

from __future__ import annotations

import inspect

from litellm.caching import caching_handler
from litellm.caching.in_memory_cache import InMemoryCache

from gateway.proxy.response_cache import use_redis_only


def test_the_memory_tier_is_the_module_level_in_memory_cache():
    assert isinstance(caching_handler.in_memory_cache_obj, InMemoryCache)
    source = inspect.getsource(caching_handler.LLMCachingHandler.__init__)
    assert "isinstance(litellm.cache.cache, RedisCache)" in source
    assert "in_memory_cache=in_memory_cache_obj" in source


def test_use_redis_only_leaves_the_memory_tier_empty():
    memory = caching_handler.in_memory_cache_obj
    before = memory.max_size_in_memory
    try:
        memory.set_cache("contract-probe", "old answer", ttl=600)
        use_redis_only()
        assert memory.get_cache("contract-probe") is None
        memory.set_cache("contract-probe", "new answer", ttl=600)
        assert memory.get_cache("contract-probe") is None
    finally:
        memory.max_size_in_memory = before
