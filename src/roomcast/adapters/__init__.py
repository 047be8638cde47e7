"""Rooms and fan-out: which sockets a broadcast reaches, here and (later) on other nodes."""

from __future__ import annotations

from .base import Adapter, BroadcastOptions
from .memory import MemoryAdapter

__all__ = ["Adapter", "BroadcastOptions", "MemoryAdapter"]
