"""Fixtures for the adapter tests: the interop fixtures (``serve``, ``spawn_node``), imported."""

from __future__ import annotations

from integration.conftest import serve, spawn_node

__all__ = ["serve", "spawn_node"]
