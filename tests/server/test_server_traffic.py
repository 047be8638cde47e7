"""``Server.count_traffic()``: the counts the server keeps where it parses each message and
encodes each packet (what metrics and the admin UI read), after literal wire traffic."""

from __future__ import annotations

import pytest
from server_wire import StartSio

import roomcast
from roomcast.server.observer import OTHER, Traffic
from roomcast.socketio import Packet, PacketType


def test_nothing_is_counted_until_asked() -> None:
    io = roomcast.Server(serve_client=False)
    assert io.traffic is None
    traffic = io.count_traffic(top_events=3)
    assert io.traffic is traffic
    assert io.count_traffic() is traffic  # one set of counts, whoever asks


@pytest.mark.parametrize(
    ("messages", "event", "asks_ack"),
    [
        (['2["hi","x"]'], "hi", False),
        (['212["hi","x"]'], "hi", True),
        (['2/chat,["say",1]'], "say", False),
        (['2/chat,7["say",1]'], "say", True),
        (['51-["file",{"_placeholder":true,"num":0}]', b"\x01\x02"], "file", False),
        (['51-/chat,3["file",{"_placeholder":true,"num":0}]', b"\x01"], "file", True),
        (["2[42]"], OTHER, False),
    ],
)
async def test_events_received_by_name(
    start_sio: StartSio, messages: list[str | bytes], event: str, asks_ack: bool
) -> None:
    harness = await start_sio(serve_client=False)
    harness.io.of("/chat")
    client = await harness.websocket()
    await client.sio_connect()
    await client.sio_connect("/chat")
    traffic = harness.io.count_traffic()
    for message in messages:
        await client.send("4" + message if isinstance(message, str) else message)
    await client.assert_echo()  # handled in order: the messages before it are counted
    traffic.drain()
    assert traffic.events_received == {event: 1, "echo": 1}
    assert traffic.acks_requested == int(asks_ack) + 1
    echo = len('21["echo","still alive 1"]')
    assert traffic.received_bytes == sum(len(m) for m in messages) + echo


async def test_acks_and_bytes_received(start_sio: StartSio) -> None:
    harness = await start_sio(serve_client=False)
    client = await harness.websocket()
    await client.sio_connect()
    traffic = harness.io.count_traffic()
    for message in ("31[]", '2["é"]'):  # an ack nobody waits for; "é" is 2 bytes in UTF-8
        await client.send("4" + message)
    await client.assert_echo()
    traffic.drain()
    assert traffic.acks_received == 1
    assert traffic.events_received == {"é": 1, "echo": 1}
    assert traffic.received_bytes == 4 + 7 + len('21["echo","still alive 1"]')


def test_event_names_are_bounded() -> None:
    traffic = Traffic(top_events=2)
    for name in ("a", "b", "c", "a", "d", "b"):
        traffic.messages.append(f'2["{name}"]')  # what the fast path appends
        traffic.names.append(name)
        traffic.encoded(Packet(PacketType.EVENT, "/", [name]))
    traffic.encoded(Packet(PacketType.ACK, "/", ["not an event"], 1))
    traffic.encoded(Packet(PacketType.EVENT, "/", [7]))
    traffic.drain()
    traffic.packet(Packet(PacketType.EVENT, "/", ["e", 1], 3))  # a third name: "other"
    assert traffic.events_received == {"a": 2, "b": 2, OTHER: 3}
    assert traffic.events_sent == {"a": 2, "b": 2, OTHER: 3}
    assert traffic.acks_requested == 1


def test_a_batch_of_many_names() -> None:
    traffic = Traffic()
    names = [f"n{i % 20}" for i in range(200)]
    for name in names:
        traffic.messages.append(f'21["{name}"]')
        traffic.asking.append(name)
    traffic.messages.append('2["é"]')
    traffic.names.append("é")
    traffic.drain()
    assert traffic.events_received == {**{f"n{i}": 10 for i in range(20)}, "é": 1}
    assert traffic.acks_requested == 200
    assert traffic.received_bytes == sum(len(f'21["{n}"]') for n in names) + 7
    assert traffic.messages == traffic.names == traffic.asking == []
