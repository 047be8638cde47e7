"""Each kind of refused event, as the bytes a client gets (and does not get).

The ack table: an event nobody handles gets no ack; a failing handler, invalid arguments,
a rate or size limit, or an app's ``EventRejected`` get ONE ack argument
``{"_rc_error": {"code", "message", "details"}}``; without an ack id nothing is sent
unless ``notify_rejections``; repeated rate/size violations disconnect the socket after
``rc:rejected`` says why.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel, Field
from server_wire import EioWebSocket, StartSio

import roomcast


class Message(BaseModel):
    room: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=500)


async def connected(harness: Any, nsp: str = "/") -> EioWebSocket:
    client = await harness.websocket()
    await client.sio_connect(nsp)
    return client


async def ack_of(client: EioWebSocket, packet: str, ack_id: int) -> list[Any]:
    """Send ``packet`` (an EVENT asking for ``ack_id`` on "/"); the ack's arguments."""
    await client.send(packet)
    reply = await client.recv_text()
    prefix = f"43{ack_id}"
    assert reply.startswith(prefix), reply
    args = json.loads(reply[len(prefix) :])
    assert isinstance(args, list)
    return args


def error_of(args: list[Any]) -> dict[str, Any]:
    assert len(args) == 1, args
    assert set(args[0]) == {"_rc_error"}, args
    error = args[0]["_rc_error"]
    assert set(error) == {"code", "message", "details"}, error
    return dict(error)


async def test_an_event_nobody_handles_is_not_acked_and_is_counted(start_sio: StartSio) -> None:
    harness = await start_sio()
    client = await connected(harness)
    await client.send('425["nobody-listens",1]')
    await client.assert_echo()  # the next frame is the echo's ack: none came for 5
    assert harness.io.guard.counts["no_handler"] == 1


async def test_failing_handlers_sync_and_async_answer_handler_error(start_sio: StartSio) -> None:
    harness = await start_sio()

    @harness.io.on("boom")
    def boom(socket: roomcast.Socket) -> None:
        raise RuntimeError("secret internals (expected by this test)")

    @harness.io.on("later")
    async def later(socket: roomcast.Socket) -> None:
        await asyncio.sleep(0)
        raise KeyError("secret internals (expected by this test)")

    client = await connected(harness)
    for packet, ack_id in (('421["boom"]', 1), ('422["later"]', 2)):
        error = error_of(await ack_of(client, packet, ack_id))
        assert error == {
            "code": "handler_error",
            "message": "the handler failed",
            "details": None,
        }  # the exception's text stays in the server's log
    assert harness.io.guard.counts["handler_error"] == 2


async def test_a_result_that_looks_like_an_error_is_refused(start_sio: StartSio) -> None:
    """No successful ack can be mistaken for an error: echoing the error key is one."""
    harness = await start_sio()
    harness.io.on("mirror", lambda socket, value: value)
    harness.io.on("pair", lambda socket, value: (value, "second"))
    client = await connected(harness)
    forged = '{"_rc_error":{"code":"fake","message":"x","details":null}}'
    assert error_of(await ack_of(client, f'421["mirror",{forged}]', 1))["code"] == ("handler_error")
    assert error_of(await ack_of(client, f'422["pair",{forged}]', 2))["code"] == "handler_error"
    # nested deeper, or not the first argument, it is plain data
    assert await ack_of(client, f'423["mirror",[{forged}]]', 3) == [[json.loads(forged)]]


async def test_invalid_arguments_are_refused_with_each_field(start_sio: StartSio) -> None:
    harness = await start_sio()
    ran: list[Message] = []

    @harness.io.on("say")
    def say(socket: roomcast.Socket, msg: Message) -> dict[str, bool]:
        ran.append(msg)
        return {"ok": True}

    client = await connected(harness)
    error = error_of(await ack_of(client, '421["say",{"room":"","text":7}]', 1))
    assert error["code"] == "validation_failed"
    assert [(d["loc"], d["type"]) for d in error["details"]] == [
        ([0, "room"], "string_too_short"),
        ([0, "text"], "string_type"),
    ]
    assert ran == []
    assert await ack_of(client, '422["say",{"room":"a","text":"b"}]', 2) == [{"ok": True}]
    assert ran == [Message(room="a", text="b")]


async def test_a_model_result_is_acked_as_json(start_sio: StartSio) -> None:
    harness = await start_sio()

    @harness.io.on("upper")
    async def upper(socket: roomcast.Socket, msg: Message) -> Message:
        return Message(room=msg.room, text=msg.text.upper())

    client = await connected(harness)
    assert await ack_of(client, '421["upper",{"room":"a","text":"b"}]', 1) == [
        {"room": "a", "text": "B"}
    ]


async def test_over_the_rate_the_ack_says_when_to_retry(start_sio: StartSio) -> None:
    harness = await start_sio()
    harness.io.on("tick", lambda socket: "ok", rate="1/h", burst=2)
    client = await connected(harness)
    assert await ack_of(client, '421["tick"]', 1) == ["ok"]
    assert await ack_of(client, '422["tick"]', 2) == ["ok"]
    error = error_of(await ack_of(client, '423["tick"]', 3))
    assert error["code"] == "rate_limited"
    assert 3500 < error["details"]["retry_after"] <= 3600
    assert error["details"] | {"retry_after": 0} == {
        "retry_after": 0,
        "rate": "1/h",
        "burst": 2,
        "per": "socket",
    }
    other = await connected(harness)  # another socket, another bucket
    assert await ack_of(other, '421["tick"]', 1) == ["ok"]


async def test_server_and_namespace_limits_count_every_event(start_sio: StartSio) -> None:
    harness = await start_sio(rate_limit=roomcast.RateLimit("1/h", burst=4))
    harness.io.of("/chat").limit("1/h", burst=2)
    harness.io.of("/chat").on("a", lambda socket: "a")
    harness.io.of("/chat").on("b", lambda socket: "b")
    client = await harness.websocket()
    await client.sio_connect("/chat")
    replies = []
    for ack_id, event in enumerate(["a", "b", "unknown", "a"], start=1):
        await client.send(f'42/chat,{ack_id}["{event}"]')
        replies.append(await client.recv_text())
    assert replies[:2] == ['43/chat,1["a"]', '43/chat,2["b"]']
    # the namespace's two tokens are spent: refused, unknown events too
    assert all('"rate_limited"' in reply for reply in replies[2:]), replies
    # on "/", another socket: the server's 4 tokens, then no more
    await client.send("40")
    assert (await client.recv_text()).startswith('40{"sid"')
    assert [await ack_of(client, f'42{i}["echo",{i}]', i) for i in (1, 2, 3, 4)] == [
        [1],
        [2],
        [3],
        [4],
    ]
    assert error_of(await ack_of(client, '425["echo",5]', 5))["code"] == "rate_limited"


async def test_payload_size_and_depth_limits(start_sio: StartSio) -> None:
    harness = await start_sio()
    harness.io.on("post", lambda socket, *args: len(args), max_bytes=64, max_depth=2)
    client = await connected(harness)
    assert await ack_of(client, '421["post",{"a":[1]}]', 1) == [1]
    big = "é" * 30  # 43 characters in all, under 64, but 73 bytes
    error = error_of(await ack_of(client, f'422["post","{big}"]', 2))
    assert error["code"] == "too_large"
    packet = f'22["post","{big}"]'  # the Socket.IO packet (no Engine.IO "4")
    assert error["details"] == {"size": len(packet.encode()), "max_bytes": 64}
    error = error_of(await ack_of(client, '423["post",{"a":[[1]]}]', 3))
    assert error == {
        "code": "too_large",
        "message": "the arguments nest more than 2 levels deep",
        "details": {"max_depth": 2},
    }
    # a binary packet counts its attachments
    await client.send('451-4["post",{"_placeholder":true,"num":0}]')
    await client.send(b"\x00" * 100)
    assert error_of(json.loads((await client.recv_text())[3:]))["code"] == "too_large"


async def test_an_app_refuses_with_its_own_code(start_sio: StartSio) -> None:
    harness = await start_sio()

    @harness.io.on("admin")
    def admin(socket: roomcast.Socket) -> None:
        raise roomcast.EventRejected("unauthorized", "admins only", {"role": "guest"})

    @harness.io.on("connection")
    def guard(socket: roomcast.Socket) -> None:
        def only_known(event: str, args: list[Any]) -> None:
            if event == "secret":
                raise roomcast.EventRejected("unauthorized", "not for you")

        socket.use(only_known)

    client = await connected(harness)
    assert error_of(await ack_of(client, '421["admin"]', 1)) == {
        "code": "unauthorized",
        "message": "admins only",
        "details": {"role": "guest"},
    }
    assert error_of(await ack_of(client, '422["secret"]', 2))["message"] == "not for you"


async def test_without_an_ack_nothing_is_sent_unless_asked(start_sio: StartSio) -> None:
    seen: list[tuple[str, str]] = []
    quiet = await start_sio()
    quiet.io.on("boom", lambda socket: 1 / 0)
    quiet.io.on_rejected(lambda socket, event, rejection: seen.append((event, rejection.code)))
    client = await connected(quiet)
    await client.send('42["boom"]')
    await client.assert_echo()  # nothing came before the echo's ack
    assert seen == [("boom", "handler_error")]

    told = await start_sio(notify_rejections=True)
    told.io.on("boom", lambda socket: 1 / 0)
    client = await connected(told)
    await client.send('42["boom"]')
    reply = await client.recv_text()
    assert reply.startswith('42["rc:rejected",'), reply
    _, payload = json.loads(reply[2:])
    assert payload["_rc_error"]["event"] == "boom"
    assert payload["_rc_error"]["code"] == "handler_error"


async def test_repeated_violations_disconnect_with_a_reason(start_sio: StartSio) -> None:
    harness = await start_sio(max_violations=3, violation_window=3600.0)
    harness.io.on("tick", lambda socket: "ok", rate="1/h", burst=1)
    client = await connected(harness)
    bystander = await harness.bystander()
    assert await ack_of(client, '421["tick"]', 1) == ["ok"]
    for ack_id in (2, 3):
        assert error_of(await ack_of(client, f'42{ack_id}["tick"]', ack_id))["code"] == (
            "rate_limited"
        )
    await client.send('424["tick"]')  # the third violation
    assert error_of(json.loads((await client.recv_text())[3:]))["code"] == "rate_limited"
    notice = json.loads((await client.recv_text())[2:])
    assert notice[0] == "rc:rejected"
    assert notice[1]["_rc_error"]["code"] == "too_many_violations"
    assert await client.recv_text() == "41"  # DISCONNECT: "io server disconnect"
    assert harness.io.guard.counts["too_many_violations"] == 1
    await bystander.assert_echo()


async def test_the_wrong_number_of_arguments_is_invalid_not_a_handler_error(
    start_sio: StartSio,
) -> None:
    """The call itself fails, so no handler ran: plain, limited and validated alike."""
    harness = await start_sio()
    harness.io.on("plain", lambda socket, a: a)
    harness.io.on("limited", lambda socket, a: a, rate="1/h", burst=10)

    @harness.io.on("checked")
    def checked(socket: roomcast.Socket, msg: Message) -> None: ...

    client = await connected(harness)
    for ack_id, event in enumerate(["plain", "limited", "checked"], start=1):
        error = error_of(await ack_of(client, f'42{ack_id}["{event}",1,2]', ack_id))
        assert error["code"] == "validation_failed", event
        assert error["message"] == "wrong number of arguments"
    assert harness.io.guard.counts == {"validation_failed": 3}
