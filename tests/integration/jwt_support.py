"""Keys, tokens and a key-set server for the JWT tests: RSA keys made in the test, their
public halves served as a JWKS document by a small aiohttp server on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SECRET = "test-secret-" + "0123456789abcdef" * 4


def hs256(sub: str = "alice", lifetime: float = 600, **claims: Any) -> str:
    """A token signed with ``SECRET``, valid ``lifetime`` seconds from now."""
    return jwt.encode({"sub": sub, "exp": int(time.time() + lifetime), **claims}, SECRET)


@dataclass
class RsaKey:
    """An RSA key pair with its key id."""

    kid: str
    private: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        """The public key as a JWK (RFC 7517) with ``kid``."""
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**data, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, sub: str = "bob", lifetime: float = 600, **claims: Any) -> str:
        payload = {"sub": sub, "exp": int(time.time() + lifetime), **claims}
        return jwt.encode(payload, self.private, "RS256", headers={"kid": self.kid})


class JwksServer:
    """Serves ``{"keys": [...]}`` at ``/jwks.json``; ``keys`` may change during a test."""

    def __init__(self) -> None:
        self.keys: list[RsaKey] = []
        self.requests = 0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _serve(self, _: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response({"keys": [key.jwk() for key in self.keys]})

    async def start(self) -> JwksServer:
        app = web.Application()
        app.router.add_get("/jwks.json", self._serve)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/jwks.json"
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def jwks_server() -> AsyncIterator[JwksServer]:
    """The body of a fixture: a started ``JwksServer``, closed afterwards."""
    server = await JwksServer().start()
    try:
        yield server
    finally:
        await server.aclose()
