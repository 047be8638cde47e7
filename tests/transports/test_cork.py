"""The cork of WebSocket links: a link's first frame of a loop tick leaves at once, the
frames after it in the same tick leave together in one write when the tick ends."""

from __future__ import annotations

import asyncio

from roomcast.transports.websocket import Cork, CorkedLink


class RecordingTransport:
    """Records each write (what a socket's ``send`` would get); a buffer size to report."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.buffered = 0
        self.closing = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def get_extra_info(self, name: str) -> None:
        return None

    def abort(self) -> None:
        self.aborted = self.closing = True


class Link(CorkedLink):
    """A corked link with nothing to read (the native server's pushes messages instead)."""

    async def receive(self) -> str | bytes | None:
        return None

    async def aclose(self) -> None:
        self.flush()


def link_pair(max_buffer: int = 1 << 20) -> tuple[Cork, list[tuple[Link, RecordingTransport]]]:
    cork = Cork()
    links = []
    for _ in range(2):
        transport = RecordingTransport()
        links.append((Link(transport, cork, max_buffer), transport))  # type: ignore[arg-type]
    return cork, links


async def next_tick() -> None:
    await asyncio.sleep(0)


async def test_first_frame_of_a_tick_is_written_at_once() -> None:
    _, [(link, transport), _] = link_pair()
    link.send_frame(b"a")
    assert transport.writes == [b"a"]  # before the loop comes round: no added latency


async def test_later_frames_of_the_tick_leave_together_at_its_end() -> None:
    _, [(link, transport), _] = link_pair()
    link.send_frame(b"a")
    link.send_frame(b"b")
    link.send_frame(b"c")
    assert transport.writes == [b"a"]
    assert link.buffered_amount() == 2
    await next_tick()
    assert transport.writes == [b"a", b"bc"]
    assert link.buffered_amount() == 0


async def test_each_tick_starts_with_an_immediate_write() -> None:
    _, [(link, transport), _] = link_pair()
    for tick in range(3):
        link.send_frame(b"%d" % tick)
        assert transport.writes[-1] == b"%d" % tick
        link.send_frame(b"x")
        await next_tick()
    assert transport.writes == [b"0", b"x", b"1", b"x", b"2", b"x"]


async def test_links_are_corked_independently() -> None:
    _, [(first, first_out), (second, second_out)] = link_pair()
    first.send_frame(b"a")
    first.send_frame(b"b")
    second.send_frame(b"c")  # its first frame of the tick, though the other link held one
    assert second_out.writes == [b"c"]
    second.send_frame(b"d")
    await next_tick()
    assert first_out.writes == [b"a", b"b"]
    assert second_out.writes == [b"c", b"d"]


async def test_a_flush_outside_the_loop_keeps_the_order() -> None:
    cork, [(link, transport), _] = link_pair()
    link.send_frame(b"a")
    link.send_frame(b"b")
    cork.flush()  # e.g. the server closing: what is held goes out now
    link.send_frame(b"c")
    await next_tick()
    assert b"".join(transport.writes) == b"abc"


async def test_overflow_is_reported_once_and_aborts_the_connection() -> None:
    _, [(link, transport), _] = link_pair(max_buffer=10)
    reports: list[bool] = []
    link.on_overflow = lambda: reports.append(transport.aborted)
    transport.buffered = 11  # the client stopped reading
    link.send_frame(b"a")
    assert reports == [False]  # told first, then aborted: it would never drain
    assert transport.aborted
    link.send_frame(b"b")
    await next_tick()
    link.send_frame(b"c")
    assert reports == [False]
    assert transport.writes == [b"a"]


async def test_nothing_is_written_to_a_closing_transport() -> None:
    _, [(link, transport), _] = link_pair()
    transport.closing = True
    link.send_frame(b"a")
    link.send_frame(b"b")
    await next_tick()
    assert transport.writes == []
