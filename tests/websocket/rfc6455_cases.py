"""RFC 6455 conformance cases, modelled on the Autobahn testsuite's case list (sections 1-7,
9 at small sizes), as data: what a client sends, and what a conforming server answers.

Each case is run against a real server on 127.0.0.1 by a raw client that frames bytes by
hand (``test_rfc6455.py``): a plain echo endpoint, and for the failure cases the Socket.IO
WebSocket transport too (its framing is the same code).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
) -> bytes:
    """A client frame, masked unless told otherwise."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mask_bit | n])
    elif n < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


def close(code: int | None = None, reason: bytes = b"") -> bytes:
    return frame(CLOSE, b"" if code is None else struct.pack("!H", code) + reason)


@dataclass(frozen=True)
class Case:
    """``send`` goes out (``chop``: in pieces of that many bytes); the server must answer
    with ``messages`` (echoed, in order) and ``pongs`` (their payloads), then close with a
    code in ``close_codes``. With ``close_codes`` empty the client closes with 1000 after
    its frames and the server must answer 1000."""

    id: str
    send: list[bytes]
    messages: list[str | bytes] = field(default_factory=list)
    pongs: list[bytes] = field(default_factory=list)
    close_codes: frozenset[int] = frozenset()
    chop: int = 0

    @property
    def fails(self) -> bool:
        return bool(self.close_codes)


PROTOCOL_ERROR = frozenset({1002})
INVALID_DATA = frozenset({1007})
TOO_BIG = frozenset({1009})

TEXT_SIZES = (0, 125, 126, 127, 128, 65535, 65536)
UTF8_VALID = [
    "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "κόσμε".encode(),
    "\U0001f600 emoji and 中文".encode(),
    b"\xef\xbf\xbf",  # U+FFFF
    b"\xf4\x8f\xbf\xbf",  # U+10FFFF
]
UTF8_INVALID = [
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",  # a surrogate
    b"\xc0\xaf",  # overlong /
    b"\xe0\x80\xaf",  # overlong /
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\x80",  # a lone continuation byte
    b"\xfe",
    b"\xff",
    b"\xce\xba\xe1\xbd",  # truncated at the end
    b"\xed\xbf\xbf",  # a low surrogate
]


def _cases() -> list[Case]:
    cases: list[Case] = []
    add = cases.append
    # -- 1 framing: text and binary of every length class
    for n in TEXT_SIZES:
        add(Case(f"1.1-text-{n}", [frame(TEXT, b"*" * n)], ["*" * n]))
        add(Case(f"1.2-binary-{n}", [frame(BINARY, b"\xfe" * n)], [b"\xfe" * n]))
    add(Case("1.1.8-text-65536-chopped", [frame(TEXT, b"*" * 65536)], ["*" * 65536], chop=997))
    add(Case("1.2.8-binary-chopped", [frame(BINARY, b"\x01" * 300)], [b"\x01" * 300], chop=1))
    # -- 2 pings and pongs
    add(Case("2.1-ping-empty", [frame(PING)], pongs=[b""]))
    add(Case("2.2-ping-text", [frame(PING, b"Hello, world!")], pongs=[b"Hello, world!"]))
    add(Case("2.3-ping-binary", [frame(PING, b"\x00\xff\xfe\xfd")], pongs=[b"\x00\xff\xfe\xfd"]))
    add(Case("2.4-ping-125", [frame(PING, b"\xfe" * 125)], pongs=[b"\xfe" * 125]))
    add(Case("2.5-ping-126", [frame(PING, b"\xfe" * 126)], close_codes=PROTOCOL_ERROR))
    add(Case("2.6-ping-chopped", [frame(PING, b"\xfe" * 125)], pongs=[b"\xfe" * 125], chop=1))
    add(Case("2.7-unsolicited-pong", [frame(PONG), frame(TEXT, b"after")], ["after"]))
    add(Case("2.8-unsolicited-pong-payload", [frame(PONG, b"unsolicited")]))
    add(
        Case(
            "2.10-ten-pings",
            [frame(PING, b"%d" % i) for i in range(10)],
            pongs=[b"%d" % i for i in range(10)],
        )
    )
    # -- 3 reserved bits
    for rsv in range(1, 8):
        add(Case(f"3-rsv{rsv}-text", [frame(TEXT, b"Hello", rsv=rsv)], close_codes=PROTOCOL_ERROR))
    add(
        Case(
            "3.2-rsv-after-echo",
            [frame(TEXT, b"ok"), frame(TEXT, b"x", rsv=2)],
            ["ok"],
            close_codes=PROTOCOL_ERROR,
        )
    )
    add(Case("3.6-rsv-ping", [frame(PING, b"p", rsv=5)], close_codes=PROTOCOL_ERROR))
    add(Case("3.7-rsv-close", [frame(CLOSE, b"", rsv=7)], close_codes=PROTOCOL_ERROR))
    # -- 4 opcodes
    for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        add(
            Case(
                f"4-opcode-{op:x}",
                [frame(TEXT, b"ok"), frame(op, b"x")],
                ["ok"],
                close_codes=PROTOCOL_ERROR,
            )
        )
    # -- 5 fragmentation
    add(
        Case(
            "5.1-ping-fragmented",
            [frame(PING, b"a", fin=False), frame(CONT, b"b")],
            close_codes=PROTOCOL_ERROR,
        )
    )
    add(
        Case(
            "5.2-pong-fragmented",
            [frame(PONG, b"a", fin=False), frame(CONT, b"b")],
            close_codes=PROTOCOL_ERROR,
        )
    )
    add(
        Case(
            "5.3-text-two-fragments",
            [frame(TEXT, b"frag", fin=False), frame(CONT, b"ment")],
            ["fragment"],
        )
    )
    add(
        Case(
            "5.5-text-two-fragments-chopped",
            [frame(TEXT, b"frag", fin=False), frame(CONT, b"ment")],
            ["fragment"],
            chop=1,
        )
    )
    add(
        Case(
            "5.6-ping-between-fragments",
            [frame(TEXT, b"frag", fin=False), frame(PING, b"ping"), frame(CONT, b"ment")],
            ["fragment"],
            pongs=[b"ping"],
        )
    )
    add(
        Case(
            "5.8-ping-between-fragments-chopped",
            [frame(TEXT, b"frag", fin=False), frame(PING, b"ping"), frame(CONT, b"ment")],
            ["fragment"],
            pongs=[b"ping"],
            chop=1,
        )
    )
    add(
        Case(
            "5.9-continuation-first",
            [frame(CONT, b"x"), frame(TEXT, b"ok")],
            close_codes=PROTOCOL_ERROR,
        )
    )
    add(
        Case(
            "5.10-continuation-non-final-first",
            [frame(CONT, b"x", fin=False)],
            close_codes=PROTOCOL_ERROR,
        )
    )
    add(
        Case(
            "5.15-text-while-fragmented",
            [frame(TEXT, b"a", fin=False), frame(CONT, b"b", fin=False), frame(TEXT, b"c")],
            close_codes=PROTOCOL_ERROR,
        )
    )
    add(
        Case(
            "5.17-binary-while-fragmented",
            [frame(BINARY, b"a", fin=False), frame(BINARY, b"b")],
            close_codes=PROTOCOL_ERROR,
        )
    )
    add(
        Case(
            "5.19-many-fragments-pings-between",
            [
                frame(TEXT, b"a", fin=False),
                frame(CONT, b"b", fin=False),
                frame(PING, b"1"),
                frame(CONT, b"c", fin=False),
                frame(PING, b"2"),
                frame(CONT, b"d"),
            ],
            ["abcd"],
            pongs=[b"1", b"2"],
        )
    )
    add(
        Case(
            "5.x-empty-fragments",
            [frame(TEXT, b"", fin=False), frame(CONT, b"", fin=False), frame(CONT, b"")],
            [""],
        )
    )
    add(
        Case(
            "5.x-binary-empty-first-fragment",
            [frame(BINARY, b"", fin=False), frame(CONT, b"")],
            [b""],
        )
    )
    add(
        Case(
            "5.x-close-between-fragments",
            [frame(TEXT, b"a", fin=False), close(1000)],
            close_codes=frozenset({1000}),
        )
    )
    # -- 6 UTF-8
    for i, text in enumerate(UTF8_VALID):
        add(Case(f"6-valid-{i}", [frame(TEXT, text)], [text.decode()]))
        cut = len(text) // 2 + 1  # split inside a code point where there is one
        add(
            Case(
                f"6-valid-split-{i}",
                [frame(TEXT, text[:cut], fin=False), frame(CONT, text[cut:])],
                [text.decode()],
            )
        )
        add(
            Case(
                f"6-valid-bytewise-{i}",
                [frame(TEXT, text[:1], fin=False)]
                + [frame(CONT, text[j : j + 1], fin=False) for j in range(1, len(text))]
                + [frame(CONT, b"")],
                [text.decode()],
            )
        )
    for i, bad in enumerate(UTF8_INVALID):
        add(Case(f"6-invalid-{i}", [frame(TEXT, bad)], close_codes=INVALID_DATA))
        add(
            Case(
                f"6-invalid-fragmented-{i}",
                [frame(TEXT, b"ok ", fin=False), frame(CONT, bad, fin=False), frame(CONT, b"")],
                close_codes=INVALID_DATA,
            )
        )
    # fail fast: the invalid fragment closes the connection before the message ends
    add(
        Case(
            "6.4-fail-fast",
            [frame(TEXT, b"\xce\xba\xf4\x90\x80\x80", fin=False)],
            close_codes=INVALID_DATA,
        )
    )
    # -- 7 closing
    add(
        Case(
            "7.1.1-echo-then-close",
            [frame(TEXT, b"Hello"), close(1000)],
            ["Hello"],
            close_codes=frozenset({1000}),
        )
    )
    add(Case("7.1.2-close-twice", [close(1000), close(1000)], close_codes=frozenset({1000})))
    add(
        Case(
            "7.1.3-ping-after-close",
            [close(1000), frame(PING, b"late")],
            close_codes=frozenset({1000}),
        )
    )
    add(
        Case(
            "7.1.4-text-after-close",
            [close(1000), frame(TEXT, b"late")],
            close_codes=frozenset({1000}),
        )
    )
    add(Case("7.3.1-close-empty", [close()], close_codes=frozenset({1000})))
    add(Case("7.3.2-close-one-byte", [frame(CLOSE, b"\x03")], close_codes=PROTOCOL_ERROR))
    add(
        Case(
            "7.3.4-close-with-reason", [close(1000, b"Hello World!")], close_codes=frozenset({1000})
        )
    )
    add(Case("7.3.5-close-reason-123", [close(1000, b"*" * 123)], close_codes=frozenset({1000})))
    add(Case("7.3.6-close-reason-124", [close(1000, b"*" * 124)], close_codes=PROTOCOL_ERROR))
    add(
        Case(
            "7.5.1-close-reason-invalid-utf8",
            [close(1000, b"\xce\xba\xed\xa0\x80")],
            close_codes=frozenset({1002, 1007}),
        )
    )
    for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
        add(Case(f"7.7-valid-code-{code}", [close(code)], close_codes=frozenset({code})))
    for code in (0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999, 5000, 65535):
        add(Case(f"7.9-invalid-code-{code}", [close(code)], close_codes=PROTOCOL_ERROR))
    # -- 9 (small sizes) and the size limit
    add(Case("9.1-text-256k", [frame(TEXT, b"x" * 262144)], ["x" * 262144], chop=65536))
    add(Case("9.2-binary-256k", [frame(BINARY, b"\x00" * 262144)], [b"\x00" * 262144]))
    add(
        Case(
            "9.x-fragmented-64-by-4k",
            [frame(BINARY, b"\x01" * 4096, fin=False)]
            + [frame(CONT, b"\x01" * 4096, fin=False) for _ in range(62)]
            + [frame(CONT, b"\x01" * 4096)],
            [b"\x01" * 4096 * 64],
        )
    )
    # -- masking, and the limit (max_message_size: 1 MiB in the tests)
    add(
        Case(
            "masking-unmasked-text",
            [frame(TEXT, b"plain", masked=False)],
            close_codes=PROTOCOL_ERROR,
        )
    )
    add(Case("limit-message-too-big", [frame(BINARY, b"\x00" * (2 * 2**20))], close_codes=TOO_BIG))
    add(
        Case(
            "limit-fragments-too-big",
            [
                frame(BINARY, b"\x00" * 2**19, fin=False),
                frame(CONT, b"\x00" * 2**19, fin=False),
                frame(CONT, b"\x00" * 2**19),
            ],
            close_codes=TOO_BIG,
        )
    )
    add(
        Case(
            "limit-10-mb-frame",
            [frame(BINARY, b"\x00" * (10 * 2**20))],
            close_codes=TOO_BIG,
            chop=65536,
        )
    )
    return cases


CASES = _cases()
