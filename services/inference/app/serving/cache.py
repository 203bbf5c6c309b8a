"""The prediction cache: canonical features plus model version → prediction, with a TTL.

The key is built from the *validated* request (categories canonicalised, numbers parsed), so requests that
differ only in spelling share an entry, and the model version is part of the key, so a swap can never serve
the old model's answer; so is whether an explanation was asked for. In-memory LRU per worker by default; Redis (shared by every worker and task) when
``REDIS_URL`` is set. A cache failure is never a request failure: it counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

log = logging.getLogger("prodml.inference.cache")


def cache_key(model_version: int, features: dict[str, Any], explain: bool = False) -> str:
    """An answer with an explanation has a key of its own: a plain answer cached first must not be served
    to a request that asked for the explanation (nor the bigger one to a plain request)."""
    canonical = json.dumps(features, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()
    return f"prodml:pred:v{model_version}{':explain' if explain else ''}:{digest}"


class PredictionCache(Protocol):
    kind: str

    async def get(self, key: str) -> dict | None: ...
    async def set(self, key: str, value: dict) -> None: ...
    async def close(self) -> None: ...


class MemoryCache:
    """A TTL'd LRU. Only the event loop touches it, so it needs no lock."""

    kind = "memory"

    def __init__(self, ttl_s: float, max_entries: int):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, dict]] = OrderedDict()

    def get_now(self, key: str) -> dict | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if expires < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def set_now(self, key: str, value: dict) -> None:
        self._entries[key] = (time.monotonic() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def get(self, key: str) -> dict | None:
        return self.get_now(key)

    async def set(self, key: str, value: dict) -> None:
        self.set_now(key, value)

    async def close(self) -> None:
        self._entries.clear()


class RedisCache:
    kind = "redis"

    def __init__(self, url: str, ttl_s: float):
        import redis.asyncio as redis

        self.ttl_ms = int(ttl_s * 1000)
        self._client = redis.from_url(url, socket_timeout=0.05, socket_connect_timeout=0.5)

    async def get(self, key: str) -> dict | None:
        try:
            raw = await self._client.get(key)
        except Exception as exc:
            log.warning("redis get failed", extra={"error": f"{type(exc).__name__}: {exc}"})
            return None
        return json.loads(raw) if raw else None

    async def set(self, key: str, value: dict) -> None:
        try:
            await self._client.set(key, json.dumps(value, separators=(",", ":")), px=self.ttl_ms)
        except Exception as exc:
            log.warning("redis set failed", extra={"error": f"{type(exc).__name__}: {exc}"})

    async def close(self) -> None:
        await self._client.aclose()


def build_cache(
    enabled: bool, ttl_s: float, max_entries: int, redis_url: str | None
) -> PredictionCache | None:
    if not enabled:
        return None
    if redis_url:
        return RedisCache(redis_url, ttl_s)
    return MemoryCache(ttl_s, max_entries)
