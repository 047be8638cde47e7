"""Engine.IO protocol v4, sans-IO: packets, payloads and the server session state machine."""

from __future__ import annotations

from .events import Closed, CloseReason, Event, Message, Upgraded
from .packets import (
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)
from .session import EngineConfig, EngineSession, State, Transport

__all__ = [
    "CloseReason",
    "Closed",
    "EngineConfig",
    "EngineSession",
    "Event",
    "Message",
    "Packet",
    "PacketType",
    "State",
    "Transport",
    "Upgraded",
    "decode_packet",
    "decode_payload",
    "encode_packet",
    "encode_payload",
]
