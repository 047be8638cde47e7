"""JWT auth seen by the official client: the token from each of its three places, each
refusal's ``connect_error`` data, RS256 with a key and through a JWKS URL, and a token
that expires while connected: the client is told why, disconnected, and its ``auth``
callback connects it again with a fresh token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import roomcast
from roomcast.auth.jwks import JwkSet

from .jwt_support import SECRET, JwksServer, RsaKey, hs256, jwks_server
from .support import Listener, NodeClient, ServerHarness, seconds

pytestmark = pytest.mark.node

Serve = Callable[[roomcast.Server], Awaitable[Listener]]
SpawnNode = Callable[[Listener], Awaitable[NodeClient]]
EACH_TRANSPORT = pytest.mark.parametrize("transports", [["websocket"], ["polling"]])


@pytest.fixture
async def jwks() -> AsyncIterator[JwksServer]:
    async for server in jwks_server():
        yield server


def guarded(auth: roomcast.JwtAuth) -> tuple[roomcast.Server, ServerHarness]:
    io = roomcast.Server()
    io.use(auth)
    harness = ServerHarness()
    harness.install(io)

    @io.on("whoami")
    def whoami(socket: roomcast.Socket) -> dict[str, Any]:
        return {"user": socket.data["user"], "claims": socket.data["jwt"]}

    return io, harness


@EACH_TRANSPORT
@pytest.mark.parametrize("place", ["auth", "header"])
async def test_the_token_from_auth_or_a_bearer_header(
    serve: Serve, spawn_node: SpawnNode, transports: list[str], place: str
) -> None:
    io, _ = guarded(roomcast.jwt_auth(secret=SECRET))
    node = await spawn_node(await serve(io))
    token = hs256("alice", role="admin")
    where: dict[str, Any] = (
        {"auth": {"token": token}}
        if place == "auth"
        else {"headers": {"Authorization": f"Bearer {token}"}}
    )

    await node.connect("a", transports=transports, **where)

    [answer] = await node.call("a", "whoami")
    assert answer["user"] == "alice"
    assert answer["claims"]["role"] == "admin"


async def test_the_token_from_a_cookie(serve: Serve, spawn_node: SpawnNode) -> None:
    io, _ = guarded(roomcast.jwt_auth(secret=SECRET))
    node = await spawn_node(await serve(io))

    await node.connect(
        "a", transports=["websocket"], headers={"Cookie": f"theme=dark; token={hs256('carol')}"}
    )

    [answer] = await node.call("a", "whoami")
    assert answer["user"] == "carol"


@EACH_TRANSPORT
async def test_each_refusal_says_why(
    serve: Serve, spawn_node: SpawnNode, transports: list[str]
) -> None:
    io, harness = guarded(roomcast.jwt_auth(secret=SECRET))
    node = await spawn_node(await serve(io))
    good = hs256()
    cases = {
        "missing": ({}, "token_missing", "no token"),
        "tampered": (
            {"token": good[:-4] + ("AAAA" if good[-4:] != "AAAA" else "BBBB")},
            "token_invalid",
            "signature",
        ),
        "expired": ({"token": hs256(lifetime=-60)}, "token_expired", "expired"),
        "garbage": ({"token": "not-a-jwt"}, "token_invalid", "malformed"),
    }

    for name, (auth, code, words) in cases.items():
        record = await node.connect(name, transports=transports, auth=auth, expect="connect_error")
        assert record["data"] == {"code": code}, name
        assert words in record["message"], name
    assert harness.log.find(type="connect") == []


async def test_rs256_with_a_public_key(serve: Serve, spawn_node: SpawnNode) -> None:
    key, other = RsaKey("k1"), RsaKey("k2")
    io, _ = guarded(roomcast.jwt_auth(key=key.public_pem, algorithms=["RS256"], audience="chat"))
    node = await spawn_node(await serve(io))

    await node.connect("a", transports=["websocket"], auth={"token": key.token("bob", aud="chat")})
    wrong_key = await node.connect(
        "b", auth={"token": other.token(aud="chat")}, expect="connect_error"
    )
    wrong_audience = await node.connect(
        "c", auth={"token": key.token(aud="billing")}, expect="connect_error"
    )

    assert (await node.call("a", "whoami"))[0]["user"] == "bob"
    assert wrong_key["data"] == {"code": "token_invalid"}
    assert wrong_audience["data"] == {"code": "token_invalid"}


async def test_rs256_through_a_jwks_url(
    serve: Serve, spawn_node: SpawnNode, jwks: JwksServer
) -> None:
    first, rotated, unknown = RsaKey("2024-01"), RsaKey("2024-02"), RsaKey("stranger")
    jwks.keys = [first]
    auth = roomcast.jwt_auth(jwks_url=jwks.url, algorithms=["RS256"], jwks_min_refresh=0)
    io, _ = guarded(auth)
    node = await spawn_node(await serve(io))

    await node.connect("a", auth={"token": first.token("bob")})
    await node.connect("b", auth={"token": first.token("bob")})
    assert jwks.requests == 1  # fetched once, then cached

    jwks.keys = [first, rotated]  # the provider rotates: a new kid fetches the set again
    await node.connect("c", auth={"token": rotated.token("dave")})
    assert jwks.requests == 2
    assert (await node.call("c", "whoami"))[0]["user"] == "dave"

    refused = await node.connect("d", auth={"token": unknown.token()}, expect="connect_error")
    assert refused["data"] == {"code": "token_invalid"}
    assert "unknown key" in refused["message"]


async def test_unknown_key_ids_fetch_the_set_at_most_once_per_min_refresh(
    jwks: JwksServer,
) -> None:
    known = RsaKey("known")
    jwks.keys = [known]
    keys = JwkSet(jwks.url, min_refresh=30.0)
    assert await keys.key("known") is not None

    found = await asyncio.gather(*(keys.key(f"made-up-{i}") for i in range(50)))

    assert found == [None] * 50
    assert jwks.requests == 1  # within min_refresh of the last fetch: no request at all
    assert keys.cached("known") is not None


async def test_jwks_down_is_not_the_tokens_fault(
    serve: Serve, spawn_node: SpawnNode, jwks: JwksServer
) -> None:
    key = RsaKey("k")
    url = jwks.url
    await jwks.aclose()  # nothing answers there any more
    io, _ = guarded(roomcast.jwt_auth(jwks_url=url))
    node = await spawn_node(await serve(io))

    refused = await node.connect("a", auth={"token": key.token()}, expect="connect_error")

    assert refused["data"] == {"code": "auth_unavailable"}


async def test_an_expired_token_disconnects_and_the_auth_callback_reconnects(
    serve: Serve, spawn_node: SpawnNode
) -> None:
    auth = roomcast.jwt_auth(secret=SECRET)
    io, harness = guarded(auth)
    node = await spawn_node(await serve(io))
    short, fresh = hs256("alice", lifetime=1.5, n=1), hs256("alice", lifetime=600, n=2)

    await node.send(
        "connect",
        id="a",
        nsp="/",
        opts={"transports": ["websocket"]},
        authQueue=[{"token": short}, {"token": fresh}],
        reconnectOnServerDisconnect=True,
    )
    first = await node.wait(type="connect", id="a")
    assert (await node.call("a", "whoami"))[0]["claims"]["n"] == 1

    told = await node.wait(type="event", id="a", event="unauthorized", within=seconds(10))
    gone = await node.wait(type="disconnect", id="a")
    again = await node.wait(type="connect", id="a", count=2)

    assert told["args"] == [{"code": "token_expired", "message": "the token has expired"}]
    assert gone["reason"] == "io server disconnect"
    assert gone["seq"] > told["seq"]
    assert [r["auth"] for r in node.log.find(type="auth", id="a")] == [
        {"token": short},
        {"token": fresh},
    ]
    assert again["sid"] != first["sid"]
    assert (await node.call("a", "whoami"))[0]["claims"]["n"] == 2
    await harness.wait(type="disconnect", sid=first["sid"])
    assert auth.watched == 1  # the expired socket's timer is gone, the fresh one's armed
