"""The logs of ``roomcast serve``: text lines, or one JSON object per line.

A JSON line has ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``pid``, and
``sid`` and ``namespace`` when the record concerns one socket (the server passes them with
``extra=``), plus ``exception`` when one is attached.

Access logs (``roomcast serve --access-log``, or ``access_log(io.routes())``): one record
per HTTP answer of the native server on the ``roomcast.access`` logger, at INFO, as
``127.0.0.1 - "GET /socket.io/?EIO=4&transport=polling HTTP/1.1" 200 118``; a JSON line
also has ``client``, ``method``, ``url``, ``status`` and ``bytes``. WebSocket upgrades are
logged once, as 101; the frames that follow are not.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from ..transports.http import HandshakeRequest
    from ..transports.routes import RouteTable

LogFormat = Literal["text", "json"]

TEXT_FORMAT: Final = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
_CONTEXT: Final = ("sid", "namespace")
_ACCESS: Final = ("client", "method", "url", "status", "bytes")
access_logger: Final = logging.getLogger("roomcast.access")


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
        for key in (*_CONTEXT, *_ACCESS):
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


def log_access(request: HandshakeRequest | None, address: str, status: int, size: int) -> None:
    """One access record (a ``RouteTable.access_log``)."""
    if not access_logger.isEnabledFor(logging.INFO):
        return
    method = request.method if request is not None else "-"
    url = request.url if request is not None else "-"
    access_logger.info(
        '%s - "%s %s HTTP/1.1" %d %d',
        address or "unix",
        method,
        url,
        status,
        size,
        extra={"client": address, "method": method, "url": url, "status": status, "bytes": size},
    )


def access_log(routes: RouteTable) -> None:
    """Log every answer ``routes`` get from the native server (``roomcast.access``)."""
    routes.access_log = log_access
