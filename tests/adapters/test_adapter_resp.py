"""The bus's RESP2 codec (sans-IO): replies split anywhere still parse, commands encode."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roomcast.adapters.resp import RespError, RespParser, encode_command, encode_publishes

PMESSAGE = b"*4\r\n$8\r\npmessage\r\n$3\r\np#*\r\n$4\r\np#x#\r\n$3\r\n\x93\r\n\r\n"
REPLIES = b":3\r\n+OK\r\n-ERR nope\r\n$-1\r\n*-1\r\n*2\r\n$1\r\nc\r\n:0\r\n" + PMESSAGE


def expected() -> list[object]:
    return [3, "OK", "ERR nope", None, None, [b"c", 0], [b"pmessage", b"p#*", b"p#x#", b"\x93\r\n"]]


def normalized(replies: list[object]) -> list[object]:
    return [str(r) if isinstance(r, RespError) else r for r in replies]


def test_replies_parse_in_one_feed() -> None:
    assert normalized(RespParser().feed(REPLIES)) == expected()


@given(st.lists(st.integers(min_value=0, max_value=len(REPLIES)), max_size=8))
def test_replies_parse_whatever_the_chunks(cuts: list[int]) -> None:
    parser = RespParser()
    bounds = [0, *sorted(cuts), len(REPLIES)]
    replies: list[object] = []
    for start, end in itertools.pairwise(bounds):
        replies.extend(parser.feed(REPLIES[start:end]))
    assert normalized(replies) == expected()


def test_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="not RESP"):
        RespParser().feed(b"?what\r\n")


def test_commands_encode_as_arrays_of_bulk_strings() -> None:
    assert encode_command("PUBSUB", "NUMSUB", "ch") == (
        b"*3\r\n$6\r\nPUBSUB\r\n$6\r\nNUMSUB\r\n$2\r\nch\r\n"
    )
    assert encode_command("SUBSCRIBE", "é") == b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\n\xc3\xa9\r\n"


def test_publishes_encode_like_single_commands() -> None:
    cache: dict[str, bytes] = {}
    batch = [("a#/#", b"\x00\x01"), ("b", b""), ("a#/#", b"x")]
    encoded = encode_publishes(batch, cache)
    assert encoded == b"".join(encode_command("PUBLISH", c, m) for c, m in batch)
    assert set(cache) == {"a#/#", "b"}
