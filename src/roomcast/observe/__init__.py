"""Watching a running server from above it: structured logs (``logs``)."""

from __future__ import annotations
