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

from ..socketio.packets import deconstruct, reconstruct


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
        text = _dumps(deconstruct(value, attachments))
        return text, _dumps([base64.b64encode(a).decode("ascii") for a in attachments])


def load(text: str, attachments: str | None) -> Any:
    """The value ``dump`` wrote."""
    value = json.loads(text)
    if attachments is None:
        return value
    return reconstruct(value, [base64.b64decode(a) for a in json.loads(attachments)])
