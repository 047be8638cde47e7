"""Socket.IO packets in ``socket.io-msgpack-parser``'s format (one msgpack map each).

Properties: decoding raises only RemoteProtocolError; a decoded packet encodes and decodes
back to the same message.
"""

from __future__ import annotations

from roomcast.exceptions import RemoteProtocolError
from roomcast.parsers import msgpack_parser

PARSER = msgpack_parser()

SEEDS = [
    b"\x83\xa4type\x02\xa4data\x92\xa5hello\x01\xa3nsp\xa1/",
    b"\x84\xa4type\x03\xa4data\x90\xa3nsp\xa6/admin\xa2id\x07",
    b"\x82\xa4type\x00\xa3nsp\xa1/",
    b"\x83\xa4type\x02\xa4data\x92\xa1e\xd4\x00\x00\xa3nsp\xa1/",
    b"\x83\xa4type\x02\xa4data\x92\xa1e\xc4\x03abc\xa3nsp\xa1/",
]


def test_one_input(data: bytes) -> None:
    try:
        packet = PARSER.decoder().receive(data)
    except RemoteProtocolError:
        return
    (message,) = PARSER.encode(packet)  # compared encoded: a msgpack float may be NaN
    assert PARSER.encode(PARSER.decoder().receive(message)) == [message], packet
