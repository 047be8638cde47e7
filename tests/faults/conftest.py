"""Fixtures for the fault tests: the worker tests' ``serve_app`` and ``node_client``, the
cluster tests' ``rc_node``, ``key`` and ``private_redis``, the interop tests' ``serve`` and
``spawn_node`` (helpers live in the scenario modules and ``proxy.py``)."""

from __future__ import annotations

from cluster.conftest import key, private_redis, rc_node
from integration.conftest import serve, spawn_node
from workers.conftest import node_client, proxy, serve_app

__all__ = [
    "key",
    "node_client",
    "private_redis",
    "proxy",
    "rc_node",
    "serve",
    "serve_app",
    "spawn_node",
]
