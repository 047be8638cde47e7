"""Calling user handlers: plain functions run inline, coroutines become tasks."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from types import CoroutineType
from typing import Any, Final, TypeGuard

_PLAIN: Final = frozenset({str, int, float, bool, bytes, list, dict, tuple})


def is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    """``inspect.isawaitable``, made cheap for the values handlers return most."""
    kind = type(value)
    if kind is CoroutineType:
        return True
    if value is None or kind in _PLAIN:
        return False
    return inspect.isawaitable(value)
