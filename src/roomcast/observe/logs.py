"""The logs of ``roomcast serve``: text lines, or one JSON object per line.

A JSON line has ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``pid``, and
``sid`` and ``namespace`` when the record concerns one socket (the server passes them with
``extra=``), plus ``exception`` when one is attached.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Final, Literal

LogFormat = Literal["text", "json"]

TEXT_FORMAT: Final = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
_CONTEXT: Final = ("sid", "namespace")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key in _CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The text line, with ``[sid namespace]`` after the logger when the record has them."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = [str(getattr(record, k)) for k in _CONTEXT if getattr(record, k, None)]
        if not context:
            return line
        head, sep, tail = line.partition(": ")
        return f"{head} [{' '.join(context)}]{sep}{tail}"


def configure(level: str = "info", fmt: LogFormat = "text") -> None:
    """Send every log record at ``level`` or above to stderr in ``fmt``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
