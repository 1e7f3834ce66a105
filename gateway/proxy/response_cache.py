"""Make Redis the only store of LiteLLM's response cache, so its TTL and invalidation hold.

LiteLLM 1.108.7 puts a per-process memory tier in front of a Redis response cache: every
request's `LLMCachingHandler` wraps the Redis cache in a `DualCache` whose memory side is one
module-level `InMemoryCache` (`litellm/caching/caching_handler.py`, `in_memory_cache_obj`).
Measured with two processes and `cache_params.ttl: 3`:

- a process that *reads* an answer from Redis copies it into memory with no TTL of its own
  (`DualCache._backfill_kwargs` falls back to `InMemoryCache`'s default of 600 s), and keeps
  answering that copy after the Redis key expired, even after Redis holds a newer answer;
- `POST /cache/delete` deletes the Redis key only (`Cache.delete_cache_keys` -> `RedisCache`),
  so every process, the one that served the delete included, keeps its memory copy.

`cache_params.default_in_memory_ttl` shortens the reader's copy but is process-global (every
`DualCache` the proxy builds, rate-limit counters included, takes it, and it becomes the Redis
TTL of writes that carry none) and does not reach the writer's copy. Turning the memory tier
off makes each lookup one Redis GET, the same as a miss costs today, and one answer for all.
"""

from __future__ import annotations


def use_redis_only() -> None:
    """Stop LiteLLM's response cache from keeping per-process copies (no-op for other caches).

    The memory tier is used only when the response cache is Redis; `max_size_in_memory = 0`
    is `InMemoryCache`'s own "store nothing" setting. A contract test pins both facts.
    """
    from litellm.caching import caching_handler

    memory = caching_handler.in_memory_cache_obj
    memory.max_size_in_memory = 0
    memory.flush_cache()
