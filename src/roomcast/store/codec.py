"""Values with ``bytes`` in them as JSON text, with the standard library only (SQLite store).

``dump`` gives ``(json, None)`` for plain JSON values. When ``bytes`` occur anywhere, each
is replaced by Socket.IO's own placeholder ``{"_placeholder": true, "num": i}`` and the
bytes come back separately, as a JSON list of base64 strings; ``load`` puts them back. The
placeholder is only read when that second part is present, so plain data never changes.
"""

from __future__ import annotations

import base64
import json
from typing import Any


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dump(value: Any) -> tuple[str, str | None]:
    """``value`` as ``(json, attachments)``; ``attachments`` is None when there are no bytes.

    Raises:
        TypeError: the value holds something that is neither JSON nor bytes.
    """
    try:
        return _dumps(value), None
    except TypeError:
        attachments: list[bytes] = []
        text = _dumps(_deconstruct(value, attachments))
        return text, _dumps([base64.b64encode(a).decode("ascii") for a in attachments])


def load(text: str, attachments: str | None) -> Any:
    """The value ``dump`` wrote."""
    value = json.loads(text)
    if attachments is None:
        return value
    return _reconstruct(value, [base64.b64decode(a) for a in json.loads(attachments)])


def _deconstruct(value: Any, attachments: list[bytes]) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        attachments.append(bytes(value))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(value, list | tuple):
        return [_deconstruct(v, attachments) for v in value]
    if isinstance(value, dict):
        return {k: _deconstruct(v, attachments) for k, v in value.items()}
    return value


def _reconstruct(value: Any, attachments: list[bytes]) -> Any:
    if isinstance(value, list):
        return [_reconstruct(v, attachments) for v in value]
    if isinstance(value, dict):
        num = value.get("num")
        if value.get("_placeholder") is True and type(num) is int and len(value) == 2:
            return attachments[num]
        return {k: _reconstruct(v, attachments) for k, v in value.items()}
    return value
