"""Durable streams and sessions for connection-state recovery and room history."""

from __future__ import annotations

from .base import Restored, Retention, SessionRecord, Store, StoreStatistics, StreamEntry
from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = [
    "MemoryStore",
    "Restored",
    "Retention",
    "SessionRecord",
    "SqliteStore",
    "Store",
    "StoreStatistics",
    "StreamEntry",
]
