"""Engine.IO protocol v4, sans-IO: packets, payloads, and the server and client session state
machines."""

from __future__ import annotations

from .client import ClientState, EngineClientSession, Opened, UpgradeState, batch_for_polling
from .events import Closed, CloseReason, Event, Message, Upgraded
from .packets import (
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
    payload_messages,
)
from .session import EngineConfig, EngineSession, State, Transport

__all__ = [
    "ClientState",
    "CloseReason",
    "Closed",
    "EngineClientSession",
    "EngineConfig",
    "EngineSession",
    "Event",
    "Message",
    "Opened",
    "Packet",
    "PacketType",
    "State",
    "Transport",
    "UpgradeState",
    "Upgraded",
    "batch_for_polling",
    "decode_packet",
    "decode_payload",
    "encode_packet",
    "encode_payload",
    "payload_messages",
]
