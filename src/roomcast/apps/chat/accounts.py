"""Accounts: sign up, log in, log out; passwords hashed with argon2id, sessions as JWTs.

A token is an HS256 JWT: ``sub`` the user id, ``name``, ``jti`` the login session, ``exp``.
The Socket.IO side checks it with ``roomcast.jwt_auth`` (signature, expiry, and the
disconnection when it expires); ``Accounts.session_user`` then checks that the session was
not ended by a logout, which a signature alone cannot say.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

try:
    import jwt
    from argon2 import PasswordHasher
    from argon2.exceptions import InvalidHashError, VerificationError
except ImportError as exc:  # pragma: no cover - the extra is installed in tests
    raise ImportError("roomcast chat needs the chat extra: pip install 'roomcast[chat]'") from exc

from .storage import ChatStorage, User

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Login:
    """A logged-in user and the token of the session."""

    user: User
    token: str
    expires: float


class Accounts:
    """Users' credentials and sessions over ``storage``; tokens signed with ``secret``."""

    def __init__(self, storage: ChatStorage, secret: str, *, lifetime: float = 7 * 86400) -> None:
        self.storage = storage
        self.secret = secret
        self.lifetime = lifetime
        self._hasher = PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_hex(16))  # for unknown names

    async def sign_up(self, name: str, password: str) -> Login:
        """A new user, logged in; raises ``NameTaken``."""
        hashed = await asyncio.to_thread(self._hasher.hash, password)
        user = await self.storage.create_user(name, hashed)
        return await self._start(user)

    async def log_in(self, name: str, password: str) -> Login | None:
        """A new session, or None when the name or the password is wrong (both take as
        long to answer, so the answer does not tell which)."""
        record = await self.storage.login_record(name)
        user, hashed = record if record is not None else (None, self._dummy)
        if not await asyncio.to_thread(self._verify, hashed, password) or user is None:
            return None
        return await self._start(user)

    async def log_out(self, token: str) -> str | None:
        """End the session of ``token``; its id, or None when the token is not valid."""
        claims = self.claims(token)
        if claims is None:
            return None
        await self.storage.end_session(str(claims["jti"]))
        return str(claims["jti"])

    async def user_of(self, token: str) -> tuple[User, str] | None:
        """The user and session id of a valid token whose session is live."""
        claims = self.claims(token)
        if claims is None:
            return None
        return await self.session_user(claims)

    async def session_user(self, claims: dict[str, Any]) -> tuple[User, str] | None:
        """The user of a checked token's claims, if the session is still live."""
        session = str(claims.get("jti", ""))
        user_id = await self.storage.session_user(session, time.time())
        if user_id is None or str(user_id) != str(claims.get("sub")):
            return None
        user = await self.storage.user(user_id)
        return None if user is None else (user, session)

    def claims(self, token: str) -> dict[str, Any] | None:
        try:
            claims: dict[str, Any] = jwt.decode(
                token, self.secret, algorithms=[ALGORITHM], options={"require": ["exp", "jti"]}
            )
        except jwt.InvalidTokenError:
            return None
        return claims

    async def _start(self, user: User) -> Login:
        session = secrets.token_urlsafe(16)
        now = time.time()
        expires = now + self.lifetime
        await self.storage.start_session(session, user.id, expires)
        claims = {
            "sub": str(user.id),
            "name": user.name,
            "jti": session,
            "iat": int(now),
            "exp": int(expires),
        }
        return Login(user, jwt.encode(claims, self.secret, algorithm=ALGORITHM), expires)

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False
