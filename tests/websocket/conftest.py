"""Fixtures of the WebSocket tests (see ``wire``)."""

from __future__ import annotations

from wire import serve

__all__ = ["serve"]
