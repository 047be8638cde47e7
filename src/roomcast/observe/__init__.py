"""Watching a running server: health endpoints (``health``)."""

from __future__ import annotations

from .health import Health, HealthRoute, Readiness

__all__ = ["Health", "HealthRoute", "Readiness"]
