"""The chat's HTTP API (JSON): accounts and the notify endpoint.

``POST /api/signup`` and ``/api/login`` ``{name, password}`` give a session token;
``POST /api/logout`` and ``GET /api/me`` take it as ``Authorization: Bearer``;
``POST /api/notify`` ``{user, title, body, url?}`` takes the notify token. Every refusal
is ``{"_rc_error": {"code", "message", "details"}}`` with its HTTP status.
"""

from __future__ import annotations

import hmac
from typing import Any, TypeVar

from pydantic import BaseModel

import roomcast

from .accounts import Accounts, Login
from .errors import BAD_CREDENTIALS, NAME_TAKEN, NOT_FOUND, UNAUTHORIZED, http_error, invalid
from .models import Credentials, NotifyRequest, ms, notification_json
from .notifications import Notifier
from .rooms import session_key
from .storage import NameTaken, User

_Model = TypeVar("_Model", bound=BaseModel)
MAX_BODY = 16 * 1024
ACCOUNT_RATE: dict[str, Any] = {"rate": "30/min", "burst": 10}


def _parse(model: type[_Model], request: roomcast.HttpRequest) -> _Model | roomcast.HttpResponse:
    try:
        return model.model_validate_json(request.body)
    except ValueError as exc:
        return invalid(exc)


def _login(login: Login, status: int = 200) -> roomcast.HttpResponse:
    body = {"token": login.token, "user": login.user.public(), "expires": ms(login.expires)}
    return roomcast.json_response(body, status)


class HttpApi:
    def __init__(
        self, io: roomcast.Server, accounts: Accounts, notifier: Notifier, notify_token: str
    ) -> None:
        self.io = io
        self.accounts = accounts
        self.notifier = notifier
        self.notify_token = notify_token

    def register(self) -> None:
        route = self.io.route
        # per client address: guessing passwords or filling the user table takes its time
        route("/api/signup", self.signup, methods=["POST"], max_body=MAX_BODY, **ACCOUNT_RATE)
        route("/api/login", self.login, methods=["POST"], max_body=MAX_BODY, **ACCOUNT_RATE)
        route("/api/logout", self.logout, methods=["POST"], max_body=MAX_BODY)
        route("/api/me", self.me, methods=["GET"])
        route("/api/notify", self.notify, methods=["POST"], max_body=MAX_BODY)

    async def signup(self, request: roomcast.HttpRequest) -> roomcast.HttpResponse:
        credentials = _parse(Credentials, request)
        if isinstance(credentials, roomcast.HttpResponse):
            return credentials
        try:
            login = await self.accounts.sign_up(credentials.name, credentials.password)
        except NameTaken:
            return http_error(409, NAME_TAKEN, "that name is taken")
        return _login(login, 201)

    async def login(self, request: roomcast.HttpRequest) -> roomcast.HttpResponse:
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
