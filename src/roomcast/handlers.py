"""Calling user handlers: plain functions run inline, coroutines become tasks."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from types import CoroutineType
from typing import Any, Final, TypeGuard

PLAIN_RESULTS: Final = frozenset({type(None), str, int, float, bool, bytes, list, dict, tuple})
"""The types handlers return most that are never awaitable (``type(x) in`` is one step)."""


def is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """``inspect.isawaitable``, made cheap for the values handlers return most."""
    kind = type(value)
    if kind is CoroutineType:
        return True
    if kind in PLAIN_RESULTS:
        return False
    return inspect.isawaitable(value)
