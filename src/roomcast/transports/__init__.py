"""The I/O layer: Engine.IO over WebSocket and HTTP long-polling, hosted on aiohttp or ASGI."""

from __future__ import annotations
