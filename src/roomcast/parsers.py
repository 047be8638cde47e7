"""The Socket.IO parsers by name, for ``Server(parser=...)`` and ``Client(parser=...)``.

``"json"`` is ``socket.io-parser``'s text format (the default); ``"msgpack"`` is the format
of the npm package ``socket.io-msgpack-parser`` and needs the ``msgpack`` package
(``pip install 'roomcast[msgpack]'``). The parsers themselves are sans-IO
(``roomcast.socketio.parsers``); this module gives them their codec.
"""

from __future__ import annotations

import functools

from .socketio.packets import Dumps, Loads, json_dumps, json_loads
from .socketio.parsers import JsonParser, MsgpackParser, Parser

__all__ = ["msgpack_parser", "parser_for"]


def parser_for(
    parser: str | Parser, dumps: Dumps = json_dumps, loads: Loads = json_loads
) -> Parser:
    """The parser ``parser`` names (``"json"``, ``"msgpack"``) or is; ``dumps`` and
    ``loads`` are the JSON codec of ``"json"``.

    Raises:
        ValueError: an unknown name.
        ImportError: ``"msgpack"`` without the msgpack package.
    """
    if isinstance(parser, Parser):
        return parser
    if parser == "json":
        return JsonParser(dumps, loads)
    if parser == "msgpack":
        return msgpack_parser()
    raise ValueError(f"unknown parser {parser!r}: 'json', 'msgpack' or a Parser")


def msgpack_parser() -> MsgpackParser:
    """``socket.io-msgpack-parser``'s format with the ``msgpack`` package: bytes as ``bin``,
    timezone-aware ``datetime`` values as msgpack timestamps both ways (a JavaScript
    ``Date`` with notepack.io, the npm parser's codec).

    Raises:
        ImportError: the msgpack package is missing, with how to install it.
    """
    try:
        import msgpack
    except ImportError as exc:
        raise ImportError(
            "the msgpack parser needs the msgpack package: "
            "pip install 'roomcast[msgpack]' (or pip install msgpack)"
        ) from exc
    packer = msgpack.Packer(use_bin_type=True, datetime=True)
    unpack = functools.partial(msgpack.unpackb, timestamp=3)
    return MsgpackParser(packer.pack, unpack, (ValueError, TypeError, msgpack.UnpackException))
