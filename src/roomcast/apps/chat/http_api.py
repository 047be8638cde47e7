"""The chat's HTTP API (JSON): accounts and the notify endpoint.

``POST /api/signup`` and ``/api/login`` ``{name, password}`` give a session token;
``POST /api/logout`` and ``GET /api/me`` take it as ``Authorization: Bearer``;
``POST /api/notify`` ``{user, title, body, url?}`` takes the notify token. Every refusal
is ``{"_rc_error": {"code", "message", "details"}}`` with its HTTP status.

Sign-ups and logins are limited per client address: the peer's, or, from a reverse proxy
of the server's ``trusted_proxies``, the client its ``X-Forwarded-For`` names (else every
user behind the proxy would share one budget, and anyone could pick theirs).
"""

from __future__ import annotations

import hmac
import math
import time
from typing import TypeVar

from pydantic import BaseModel

import roomcast

from .accounts import Accounts, Login
from .errors import (
    BAD_CREDENTIALS,
    NAME_TAKEN,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHORIZED,
    http_error,
    invalid,
)
from .models import Credentials, NotifyRequest, ms, notification_json
from .notifications import Notifier
from .rooms import session_key
from .storage import NameTaken, User

_Model = TypeVar("_Model", bound=BaseModel)
MAX_BODY = 16 * 1024
ACCOUNT_RATE = roomcast.RateLimit("30/min", burst=10, per="ip")


def _parse(model: type[_Model], request: roomcast.HttpRequest) -> _Model | roomcast.HttpResponse:
    try:
        return model.model_validate_json(request.body)
    except ValueError as exc:
        return invalid(exc)


def _login(login: Login, status: int = 200) -> roomcast.HttpResponse:
    body = {"token": login.token, "user": login.user.public(), "expires": ms(login.expires)}
    return roomcast.json_response(body, status)


class AddressLimit:
    """One ``RateLimit`` per client address: its burst at once, refilled at its rate.

    Each address is one float, the generic cell rate algorithm's "theoretical arrival
    time": when its bucket would be full again. A table grown past ``prune_at`` addresses
    first forgets those whose bucket is full (nothing to remember)."""

    def __init__(self, limit: roomcast.RateLimit, *, prune_at: int = 4096) -> None:
        self.limit = limit
        self.interval = 1.0 / limit.per_second()
        self.tolerance = (limit.capacity() - 1) * self.interval + 1e-9
        self.full_at: dict[str, float] = {}
        self._prune_at = prune_at

    def take(self, address: str, now: float) -> float:
        """Spend one request of ``address``: 0.0, or the seconds until one more is let in."""
        full_at = self.full_at
        if address not in full_at and len(full_at) >= self._prune_at:
            for idle in [a for a, t in full_at.items() if t <= now]:
                del full_at[idle]
            self._prune_at = max(self._prune_at, 2 * len(full_at))
        at = max(full_at.get(address, now), now)
        if at - now > self.tolerance:
            return at - self.tolerance - now
        full_at[address] = at + self.interval
        return 0.0

    def refusal(self, wait: float) -> roomcast.HttpResponse:
        """429, as roomcast's own limits answer."""
        limit = self.limit
        return http_error(
            429,
            RATE_LIMITED,
            f"over the rate limit of {limit.rate} (burst {limit.capacity()})",
            {"retry_after": round(wait, 3), **limit.describe()},
            {"Retry-After": str(math.ceil(wait))},
        )


class HttpApi:
    def __init__(
        self, io: roomcast.Server, accounts: Accounts, notifier: Notifier, notify_token: str
    ) -> None:
        self.io = io
        self.accounts = accounts
        self.notifier = notifier
        self.notify_token = notify_token
        # per client address: guessing passwords or filling the user table takes its time
        self.signups = AddressLimit(ACCOUNT_RATE)
        self.logins = AddressLimit(ACCOUNT_RATE)

    def register(self) -> None:
        route = self.io.route
        route("/api/signup", self.signup, methods=["POST"], max_body=MAX_BODY)
        route("/api/login", self.login, methods=["POST"], max_body=MAX_BODY)
        route("/api/logout", self.logout, methods=["POST"], max_body=MAX_BODY)
        route("/api/me", self.me, methods=["GET"])
        route("/api/notify", self.notify, methods=["POST"], max_body=MAX_BODY)

    def client_address(self, request: roomcast.HttpRequest) -> str:
        """Who sent ``request``: its peer, or, when the peer is one of the server's trusted
        proxies, the client the proxies' ``X-Forwarded-For`` names."""
        head = roomcast.HandshakeRequest(
            request.method,
            request.path,
            request.query,
            request.headers,
            request.address,
            secure=False,
            url=request.path,
        )
        return self.io.engine.proxies.client_address(head)

    def _over(self, limit: AddressLimit, request: roomcast.HttpRequest) -> float:
        return limit.take(self.client_address(request), time.monotonic())

    async def signup(self, request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        wait = self._over(self.signups, request)
        if wait:
            return self.signups.refusal(wait)
        credentials = _parse(Credentials, request)
        if isinstance(credentials, roomcast.HttpResponse):
            return credentials
        try:
            login = await self.accounts.sign_up(credentials.name, credentials.password)
        except NameTaken:
            return http_error(409, NAME_TAKEN, "that name is taken")
        return _login(login, 201)

    async def login(self, request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        wait = self._over(self.logins, request)
        if wait:
            return self.logins.refusal(wait)
        credentials = _parse(Credentials, request)
        if isinstance(credentials, roomcast.HttpResponse):
            return http_error(401, BAD_CREDENTIALS, "wrong name or password")
        login = await self.accounts.log_in(credentials.name, credentials.password)
        if login is None:
            return http_error(401, BAD_CREDENTIALS, "wrong name or password")
        return _login(login)

    async def logout(self, request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        """End the session and disconnect its tabs."""
        session = await self.accounts.log_out(request.bearer_token() or "")
        if session is None:
            return http_error(401, UNAUTHORIZED, "no valid session token")
        await self.io.in_(session_key(session)).disconnect_sockets()
        return roomcast.json_response({"ok": True})

    async def me(self, request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        found = await self.accounts.user_of(request.bearer_token() or "")
        if found is None:
            return http_error(401, UNAUTHORIZED, "no valid session token")
        user, _ = found
        unread = await self.accounts.storage.unread_notifications(user.id)
        return roomcast.json_response({"user": user.public(), "notifications": {"unread": unread}})

    async def notify(self, request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        """Deliver a notification to every tab of a user, and keep it for the next login."""
        token = request.bearer_token() or ""
        if not hmac.compare_digest(token.encode(), self.notify_token.encode()):
            return http_error(401, UNAUTHORIZED, "a valid notify token is required")
        note = _parse(NotifyRequest, request)
        if isinstance(note, roomcast.HttpResponse):
            return note
        user = await self._user(note.user)
        if user is None:
            return http_error(404, NOT_FOUND, "no such user")
        stored = await self.notifier.notify(user, note.title, note.body, note.url)
        assert stored is not None  # no key: never a repeat
        return roomcast.json_response(
            {"notification": notification_json(stored), "user": user.public()}, 201
        )

    async def _user(self, ref: int | str) -> User | None:
        storage = self.accounts.storage
        return await (storage.user(ref) if isinstance(ref, int) else storage.user_by_name(ref))
