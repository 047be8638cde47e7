"""What the metrics make of messages and packets, without a network (the figures after
real traffic: tests/integration/test_metrics.py)."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

import roomcast
from roomcast.observe.metrics import Metrics
from roomcast.socketio import Packet, PacketType


def feed(metrics: Metrics, *messages: str | bytes) -> None:
    """What the server's tap appends for each message received, then counted."""
    metrics._inbox.extend(messages)
    metrics.drain()


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.parametrize(
    ("message", "event", "asks_ack"),
    [
        ('2["echo","x"]', "echo", False),
        ('212["echo","x"]', "echo", True),
        ('2/chat,["say",1]', "say", False),
        ('2/chat,7["say",1]', "say", True),
        ('51-["file",{"_placeholder":true,"num":0}]', "file", False),
        ('51-/up,3["file",{"_placeholder":true,"num":0}]', "file", True),
        ("2[42]", "other", False),
    ],
)
def test_events_received_by_name(message: str, event: str, asks_ack: bool) -> None:
    metrics = Metrics(roomcast.Server(serve_client=False))
    feed(metrics, message)
    assert metrics.received == {event: 1}
    assert metrics.acks_requested == int(asks_ack)
    assert metrics.bytes_received == len(message)


def test_acks_and_bytes_received() -> None:
    metrics = Metrics(roomcast.Server(serve_client=False))
    for message in ('31["ok"]', "61-[{}]", b"\x01\x02\x03", '2["é"]'):
        feed(metrics, message)
    assert metrics.acks_received == 2
    assert metrics.bytes_received == 8 + 7 + 3 + 7  # "é" is two bytes in UTF-8
    assert metrics.received == {"é": 1}


def test_event_names_are_bounded() -> None:
    metrics = Metrics(roomcast.Server(serve_client=False), top_events=2)
    for name in ("a", "b", "c", "a", "d", "b"):
        feed(metrics, f'2["{name}"]')
        metrics.encoded(Packet(PacketType.EVENT, "/", [name]), [])
    metrics.encoded(Packet(PacketType.ACK, "/", ["not an event"], 1), [])
    expected = {"a": 2, "b": 2, "other": 2}
    assert metrics.received == metrics.sent == expected
    found = samples(metrics)
    for name, n in expected.items():
        assert found[("roomcast_events_received_total", (("event", name),))] == n
        assert found[("roomcast_events_sent_total", (("event", name),))] == n


def test_an_idle_server() -> None:
    io = roomcast.Server(serve_client=False)
    io.of("/chat")
    found = samples(Metrics(io))
    assert found[("roomcast_engine_connections", (("transport", "websocket"),))] == 0
    assert found[("roomcast_rooms", (("namespace", "/chat"),))] == 0
    assert found[("roomcast_adapter_up", (("namespace", "/"),))] == 1
    assert ("roomcast_sent_bytes_total", ()) not in found
    assert ("roomcast_store_degraded", ()) not in found  # nothing is stored


def test_the_route_is_on_the_servers_table() -> None:
    io = roomcast.Server(serve_client=False)
    metrics = Metrics(io)
    assert io.routes().find("/metrics") is metrics.route
    assert io.routes().meter is None  # sent_bytes off: the connections write as they are
    assert Metrics(roomcast.Server(serve_client=False), sent_bytes=True).meter is not None
    elsewhere = roomcast.Server(serve_client=False)
    Metrics(elsewhere, port=9100)
    assert elsewhere.routes().find("/metrics") is None
