"""HTTP compression of long-polling responses (gzip or deflate by ``Accept-Encoding``), sans-IO.

As Node's engine.io (``httpCompression``): on by default, for bodies of at least 1 KiB,
gzip preferred to deflate when the client takes both equally.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Final

from .http import HttpResponse

_WBITS: Final = {"gzip": 31, "deflate": 15}  # gzip wrapper; zlib wrapper (HTTP's "deflate")


@dataclass(frozen=True, slots=True)
class HttpCompression:
    """Compression of long-polling responses (``Server(http_compression=...)``).

    Attributes:
        threshold: smaller bodies are sent as they are (1 KiB, as Node's engine.io).
        level: zlib's compression level (-1: zlib's default, 6; 1 is faster).
    """

    threshold: int = 1024
    level: int = zlib.Z_DEFAULT_COMPRESSION

    def __post_init__(self) -> None:
        if not -1 <= self.level <= 9:
            raise ValueError("level must be between -1 and 9")
        if self.threshold < 0:
            raise ValueError("threshold must be 0 or more")

    @classmethod
    def from_option(cls, option: bool | HttpCompression | None) -> HttpCompression | None:
        """The options of ``http_compression=``: True for the defaults, False/None off."""
        if option is True:
            return cls()
        return option or None

    def apply(self, response: HttpResponse, accept_encoding: str | None) -> HttpResponse:
        """``response`` with its body compressed when the client accepts it and the body is
        big enough (its headers say so); else as it is."""
        if accept_encoding is None or len(response.body) < self.threshold:
            return response
        encoding = choose_encoding(accept_encoding)
        if encoding is None:
            return response
        z = zlib.compressobj(self.level, zlib.DEFLATED, _WBITS[encoding])
        response.body = z.compress(response.body) + z.flush()
        response.headers["Content-Encoding"] = encoding
        response.headers["Vary"] = _vary(response.headers.get("Vary"))
        return response


def _vary(current: str | None) -> str:
    if current is None:
        return "Accept-Encoding"
    if "accept-encoding" in current.lower():
        return current
    return f"{current}, Accept-Encoding"


def choose_encoding(accept_encoding: str) -> str | None:
    """gzip or deflate, by the client's ``Accept-Encoding`` (q-values, ``*``); None when it
    takes neither."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if name:
            weights[name.lower()] = q
    star = weights.get("*", 0.0)
    best = max(("gzip", "deflate"), key=lambda name: weights.get(name, star))
    return best if weights.get(best, star) > 0 else None
