"""Socket.IO protocol v5, sans-IO: packets, the encoder and the incremental decoder, and the
state of one namespace connection on each side (``ServerSession``, ``ClientSession``)."""

from __future__ import annotations

from .client_session import ClientSession
from .packets import Decoder, Packet, PacketType, encode_packet
from .session import ConnectRequest, ServerSession, SessionSnapshot, State

__all__ = [
    "ClientSession",
    "ConnectRequest",
    "Decoder",
    "Packet",
    "PacketType",
    "ServerSession",
    "SessionSnapshot",
    "State",
    "encode_packet",
]
