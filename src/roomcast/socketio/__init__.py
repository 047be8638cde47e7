"""Socket.IO protocol v5, sans-IO: packets, the parsers (JSON, msgpack) and their decoders,
and the state of one namespace connection on each side (``ServerSession``,
``ClientSession``)."""

from __future__ import annotations

from .client_session import ClientSession
from .packets import Decoder, Packet, PacketType, encode_packet
from .parsers import JsonParser, MsgpackParser, PacketDecoder, Parser
from .session import ConnectRequest, ServerSession, SessionSnapshot, State

__all__ = [
    "ClientSession",
    "ConnectRequest",
    "Decoder",
    "JsonParser",
    "MsgpackParser",
    "Packet",
    "PacketDecoder",
    "PacketType",
    "Parser",
    "ServerSession",
    "SessionSnapshot",
    "State",
    "encode_packet",
]
