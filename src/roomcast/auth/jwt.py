"""JWT authentication of Socket.IO connections: a namespace middleware (``io.use``).

::

    io.use(roomcast.jwt_auth(secret=os.environ["JWT_SECRET"]))             # HS256
    io.use(roomcast.jwt_auth(key=public_pem, algorithms=["RS256"], audience="chat"))
    io.use(roomcast.jwt_auth(jwks_url="https://id.example/.well-known/jwks.json",
                             issuer="https://id.example/"))

The token is read from the CONNECT ``auth`` (``{"token": ...}``), else an
``Authorization: Bearer`` header, else a cookie (``cookie="token"``; None: not read). A
valid token's claims go to ``socket.data["jwt"]`` and its ``sub`` to ``socket.data["user"]``.
Otherwise the client gets ``connect_error`` with ``err.data.code``:

================  =============================================================
``token_missing``  no token in any of the three places
``token_invalid``  malformed, bad signature, wrong algorithm, audience or issuer,
                   not valid yet (``nbf``), a required claim missing (``exp``)
``token_expired``  ``exp`` has passed (beyond ``leeway``)
``auth_unavailable`` the key set (``jwks_url``) cannot be fetched: not the token's fault
================  =============================================================

When a connected socket's token expires it is sent the event ``unauthorized``
(``{"code": "token_expired", "message": ...}``) and disconnected ("io server disconnect"
for the client, whose ``auth`` callback gives a fresh token when it connects again). The
expiries of all sockets share one loop timer per second (``transports.timers``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Collection, Sequence
from http.cookies import CookieError, SimpleCookie
from typing import Any, Final

try:
    import jwt
except ImportError as exc:  # pragma: no cover - the extra is installed in tests
    raise ImportError("roomcast.jwt_auth needs PyJWT: pip install 'roomcast[jwt]'") from exc

from ..exceptions import ConnectionRefused
from ..server.namespace import Namespace
from ..server.socket import Handshake, Socket
from ..transports.timers import TimerWheel
from .jwks import JwkSet, KeysUnavailable

logger = logging.getLogger("roomcast.auth")

TOKEN_MISSING: Final = "token_missing"
TOKEN_INVALID: Final = "token_invalid"
TOKEN_EXPIRED: Final = "token_expired"
AUTH_UNAVAILABLE: Final = "auth_unavailable"
EXPIRY_EVENT: Final = "unauthorized"
"""The event a socket is sent when its token expires, just before it is disconnected."""
EXPIRY_RESOLUTION: Final = 1.0
"""Seconds: expiries are checked on a shared timer of this step (``exp`` is in seconds)."""

_MESSAGES: Final = {
    jwt.ExpiredSignatureError: (TOKEN_EXPIRED, "the token has expired"),
    jwt.ImmatureSignatureError: (TOKEN_INVALID, "the token is not valid yet"),
    jwt.InvalidAudienceError: (TOKEN_INVALID, "the token is not meant for this audience"),
    jwt.InvalidIssuerError: (TOKEN_INVALID, "the token is not from the expected issuer"),
    jwt.InvalidSignatureError: (TOKEN_INVALID, "the token's signature is not valid"),
    jwt.InvalidAlgorithmError: (TOKEN_INVALID, "the token's algorithm is not accepted"),
    jwt.DecodeError: (TOKEN_INVALID, "the token is malformed"),
}


def refusal(code: str, message: str) -> ConnectionRefused:
    """The ``ConnectionRefused`` the client sees as ``connect_error`` (``err.data.code``)."""
    return ConnectionRefused(message, {"code": code})


class JwtAuth:
    """The middleware (see the module docstring); ``jwt_auth(...)`` makes one.

    Exactly one of ``secret`` (HMAC: HS256...), ``key`` (a PEM public key or a
    ``cryptography`` key object: RS256, ES256...) or ``jwks_url`` (keys by ``kid``).
    ``require``: claims a token must carry (``exp`` by default: tokens that never expire
    are refused). ``leeway``: seconds of clock skew allowed on ``exp``, ``nbf`` and ``iat``.
    ``jwks_ttl``: seconds the key set is kept; ``jwks_min_refresh``: the least seconds
    between two fetches caused by tokens whose ``kid`` the set lacks (see ``jwks``).
    """

    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        key: Any = None,
        jwks_url: str | None = None,
        algorithms: Sequence[str] | None = None,
        audience: str | Collection[str] | None = None,
        issuer: str | Collection[str] | None = None,
        leeway: float = 0.0,
        cookie: str | None = "token",
        require: Sequence[str] = ("exp",),
        disconnect_on_expiry: bool = True,
        jwks_ttl: float = 300.0,
        jwks_min_refresh: float = 30.0,
    ) -> None:
        options = (("secret", secret), ("key", key), ("jwks_url", jwks_url))
        given = [name for name, value in options if value is not None]
        if len(given) != 1:
            raise ValueError("jwt_auth needs exactly one of secret, key or jwks_url")
        hmac = secret is not None
        self.algorithms = list(algorithms or (["HS256"] if hmac else ["RS256", "ES256"]))
        if any(alg.upper().startswith("HS") != hmac for alg in self.algorithms):
            raise ValueError(
                "HS* algorithms go with a secret, the others with a key or a jwks_url "
                f"(got {self.algorithms} with {given[0]})"
            )
        if any(alg.lower() == "none" for alg in self.algorithms):
            raise ValueError("unsigned tokens (alg 'none') are never accepted")
        self._key: Any = secret if hmac else key
        self.jwks = (
            None
            if jwks_url is None
            else JwkSet(jwks_url, ttl=jwks_ttl, min_refresh=jwks_min_refresh)
        )
        self.audience = (
            audience if audience is None or isinstance(audience, str) else list(audience)
        )
        self.issuer = issuer if issuer is None or isinstance(issuer, str) else list(issuer)
        self.leeway = leeway
        self.cookie = cookie
        self.require = list(require)
        self.disconnect_on_expiry = disconnect_on_expiry
        self._expiries: TimerWheel[Socket] | None = None
        self._slots: dict[Socket, int] = {}
        self._watched: set[int] = set()  # namespaces whose handlers arm and disarm expiries

    # -- the middleware -----------------------------------------------------------------

    def __call__(self, socket: Socket) -> Awaitable[None] | None:
        """Check ``socket``'s token; raise ``ConnectionRefused`` when it is not valid."""
        self._watch(socket.nsp)
        token = self.token_of(socket.handshake)
        if token is None:
            raise refusal(
                TOKEN_MISSING,
                "no token: send it as auth.token, an Authorization: Bearer header"
                + (f" or the {self.cookie!r} cookie" if self.cookie else ""),
            )
        if self.jwks is None:
            self._accept(socket, self.decode(token, self._key))
            return None
        kid = _kid(token)  # raises token_invalid for a malformed token
        cached = self.jwks.cached(kid)
        if cached is not None:
            self._accept(socket, self.decode(token, cached))
            return None
        return self._check_with_jwks(socket, token, kid)

    async def _check_with_jwks(self, socket: Socket, token: str, kid: str | None) -> None:
        assert self.jwks is not None
        try:
            key = await self.jwks.key(kid)
        except KeysUnavailable:
            raise refusal(
                AUTH_UNAVAILABLE, "the server cannot check tokens now; try again later"
            ) from None
        if key is None:
            raise refusal(TOKEN_INVALID, "the token is signed with an unknown key")
        self._accept(socket, self.decode(token, key))

    def token_of(self, handshake: Handshake) -> str | None:
        """The token a client sent: ``auth.token``, a Bearer header, or the cookie."""
        token = handshake.auth.get("token") if isinstance(handshake.auth, dict) else None
        if isinstance(token, str) and token:
            return _bearer(token) or token
        headers = handshake.headers
        for value in headers.getall("Authorization", []):
            token = _bearer(value)
            if token:
                return token
        if self.cookie is not None:
            for value in headers.getall("Cookie", []):
                try:
                    morsel = SimpleCookie(value).get(self.cookie)
                except CookieError:
                    continue
                if morsel is not None and morsel.value:
                    return morsel.value
        return None

    def decode(self, token: str, key: Any) -> dict[str, Any]:
        """The claims of a valid ``token``; raises the ``ConnectionRefused`` to send."""
        if isinstance(key, jwt.PyJWK):
            key = key.key
        try:
            return jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": self.require, "verify_aud": self.audience is not None},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise refusal(TOKEN_INVALID, f"the token has no {exc.claim!r} claim") from None
        except jwt.PyJWTError as exc:
            code, message = next(
                (found for kind, found in _MESSAGES.items() if isinstance(exc, kind)),
                (TOKEN_INVALID, f"the token is not valid ({exc})"),
            )
            raise refusal(code, message) from None

    def _accept(self, socket: Socket, claims: dict[str, Any]) -> None:
        socket.data["jwt"] = claims
        socket.data["user"] = claims.get("sub")

    # -- expiry ---------------------------------------------------------------------------

    def _watch(self, nsp: Namespace) -> None:
        """Arm expiries when sockets join ``nsp`` and disarm them when they leave (once per
        namespace; the namespaces of a dynamic one share its handlers)."""
        owner = nsp.parent or nsp
        if id(owner) in self._watched or not self.disconnect_on_expiry:
            return
        self._watched.add(id(owner))
        owner.on("connection", self._arm)
        owner.on("disconnect", self._disarm)

    def _arm(self, socket: Socket) -> None:
        claims = socket.data.get("jwt")
        exp = claims.get("exp") if isinstance(claims, dict) else None
        if not isinstance(exp, int | float) or not socket.connected or socket in self._slots:
            return
        loop = socket.nsp.server.engine.loop
        left = exp + self.leeway - time.time()
        if left <= 0:  # a recovered session (middlewares skipped) whose token is gone
            self._expire(socket)
            return
        if self._expiries is None:
            self._expiries = TimerWheel(lambda: loop, self._expire, EXPIRY_RESOLUTION)
        slot = self._expiries.slot_of(loop.time() + left)
        self._slots[socket] = slot
        self._expiries.add(socket, slot)

    def _disarm(self, socket: Socket, reason: str = "") -> None:
        slot = self._slots.pop(socket, None)
        if slot is not None and self._expiries is not None:
            self._expiries.discard(socket, slot)

    def _expire(self, socket: Socket) -> None:
        self._slots.pop(socket, None)
        if socket.connected:
            logger.info("disconnecting %s: its token has expired", socket.id)
            socket.nsp.server.spawn(self._disconnect(socket))

    async def _disconnect(self, socket: Socket) -> None:
        await socket.emit(EXPIRY_EVENT, {"code": TOKEN_EXPIRED, "message": "the token has expired"})
        await socket.disconnect()

    @property
    def watched(self) -> int:
        """Sockets whose token expiry is armed."""
        return len(self._slots)


def jwt_auth(
    *,
    secret: str | bytes | None = None,
    key: Any = None,
    jwks_url: str | None = None,
    algorithms: Sequence[str] | None = None,
    audience: str | Collection[str] | None = None,
    issuer: str | Collection[str] | None = None,
    leeway: float = 0.0,
    cookie: str | None = "token",
    require: Sequence[str] = ("exp",),
    disconnect_on_expiry: bool = True,
    jwks_ttl: float = 300.0,
    jwks_min_refresh: float = 30.0,
) -> JwtAuth:
    """A JWT middleware for ``io.use`` / ``nsp.use`` (see ``roomcast.auth.jwt``)."""
    return JwtAuth(
        secret=secret,
        key=key,
        jwks_url=jwks_url,
        algorithms=algorithms,
        audience=audience,
        issuer=issuer,
        leeway=leeway,
        cookie=cookie,
        require=require,
        disconnect_on_expiry=disconnect_on_expiry,
        jwks_ttl=jwks_ttl,
        jwks_min_refresh=jwks_min_refresh,
    )


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _kid(token: str) -> str | None:
    """The key id in a token's header (None: none); refuses a malformed token."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise refusal(TOKEN_INVALID, "the token is malformed") from None
    return kid if isinstance(kid, str) else None
