"""The Engine.IO session state machine fed what a client may send, with a moving clock.

The input is a polling body (``\\x1e``-separated packets) whose packets are fed one by one,
with timeouts between them; a packet whose first byte is ``\\x7f`` goes to the upgrade probe
instead. Properties: nothing raises; a closed session stays closed, reports no deadline and
queues nothing more; a session reports at most one Closed; packets queued decode again.
"""

from __future__ import annotations

from roomcast.engineio.events import Closed
from roomcast.engineio.packets import Packet, PacketType, decode_packet, encode_payload
from roomcast.engineio.session import EngineConfig, EngineSession, State, Transport
from roomcast.exceptions import RemoteProtocolError

SEEDS = [
    b"\x003\x1e4hello\x1e1",
    b"\x01\x7f2probe\x1e\x7f5\x1e4after",
    b"\x02\x7f5\x1e\x7f2probe\x1e\x7f2probe\x1e5",
    b"\x03\x1e\x1e\x1e3\x1e\x1e\x1e",
]

CONFIG = EngineConfig(ping_interval=1.0, ping_timeout=0.5, max_payload=4096)


def test_one_input(data: bytes) -> None:
    if not data:
        return
    flags, body = data[0], data[1:]
    transport = Transport.WEBSOCKET if flags & 1 else Transport.POLLING
    session = EngineSession("sid", transport, CONFIG, now=0.0)
    now = 0.0
    closes = 0
    for part in body.decode("utf-8", "replace").split("\x1e"):
        was_closed = session.closed
        probe = part.startswith("\x7f")
        try:
            packet = decode_packet(part[1:] if probe else part)
        except RemoteProtocolError:
            now += 0.3  # an empty part: time passes, timers fire
            deadline = session.next_deadline()
            if deadline is not None and deadline <= now:
                session.handle_timeout(now=now)
            packet = None
        if packet is not None:
            if probe:
                answer = session.receive_probe(packet)
                assert answer is None or all(isinstance(p, Packet) for p in answer)
            else:
                session.receive_packets([packet], now=now)
        if flags & 2 and session.upgrading:
            session.cancel_upgrade()
        queued = session.packets_to_send()
        events = session.events_received()
        closes += sum(isinstance(e, Closed) for e in events)
        if was_closed:
            assert not queued, queued
            assert not events, events
        if session.closed:
            assert session.state is State.CLOSED
            assert session.next_deadline() is None
        if queued:
            text = encode_payload(p for p in queued if p.type is not PacketType.OPEN)
            assert all(isinstance(p.type, PacketType) for p in queued), text
    assert closes <= 1
    session.send_message("late")
    if session.closed:
        assert not session.packets_to_send()
