"""A JSON Web Key Set fetched from a URL (an identity provider's ``jwks_uri``), cached.

The keys are fetched on first use and kept ``ttl`` seconds; a token signed with a key id
the set does not hold (the provider rotated its keys) fetches it again, at most once every
``min_refresh`` seconds, so a flood of tokens with made-up key ids costs one request per
``min_refresh``, not one per token. Concurrent lookups share one fetch. When a fetch fails
the keys already known stay in use; with none known, the lookup raises ``KeysUnavailable``.
Fetching uses aiohttp (never a blocking call on the event loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import jwt

logger = logging.getLogger("roomcast.auth")


class KeysUnavailable(Exception):
    """The key set could not be fetched and no key is known."""


class JwkSet:
    """The keys at ``url``, by key id (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300.0,
        min_refresh: float = 30.0,
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.timeout = timeout
        self.fetches = 0
        """How many times the set was fetched (successfully or not)."""
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")  # when the keys were last fetched successfully
        self._tried_at = -float("inf")  # when a fetch was last started
        self._pending: asyncio.Future[None] | None = None

    def cached(self, kid: str | None) -> jwt.PyJWK | None:
        """The key ``kid`` names, without waiting, when it is known and fresh."""
        if time.monotonic() - self._fetched_at >= self.ttl:
            return None
        return self._pick(kid)

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        """The key ``kid`` names (None: the only key of the set), fetching the set when it
        is stale or lacks ``kid``; None when the set has no such key."""
        now = time.monotonic()
        stale = now - self._fetched_at >= self.ttl
        unknown = self._pick(kid) is None and now - self._tried_at >= self.min_refresh
        if stale or unknown:
            await self._refresh()
        if not self._keys:
            raise KeysUnavailable(f"the key set at {self.url} could not be fetched")
        return self._pick(kid)

    def _pick(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        if self._pending is None:
            self._tried_at = time.monotonic()
            self._pending = asyncio.ensure_future(self._fetch())
        pending = self._pending
        try:
            await asyncio.shield(pending)
        finally:
            if pending.done() and self._pending is pending:
                self._pending = None

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(self.url) as response,
            ):
                response.raise_for_status()
                data: Any = await response.json(content_type=None)
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWTError) as exc:
            logger.warning("cannot fetch the JWT key set at %s: %s", self.url, exc)
            return
        self._keys = {key.key_id: key for key in keys}
        self._fetched_at = time.monotonic()
