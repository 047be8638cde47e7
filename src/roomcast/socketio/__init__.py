"""Socket.IO protocol v5, sans-IO: packets, the encoder and the incremental decoder."""

from __future__ import annotations

from .packets import Decoder, Packet, PacketType, encode_packet

__all__ = ["Decoder", "Packet", "PacketType", "encode_packet"]
