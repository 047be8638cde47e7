"""Shared type aliases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

JSONValue: TypeAlias = (
    "bool | int | float | str | bytes | list[JSONValue] | dict[str, JSONValue] | None"
)
"""What an event argument may be: JSON plus ``bytes`` (sent as binary attachments)."""

Sid: TypeAlias = str
Room: TypeAlias = str
Dumps: TypeAlias = Callable[[Any], str]
Loads: TypeAlias = Callable[[str | bytes], Any]
Handler: TypeAlias = Callable[..., Any | Awaitable[Any]]
