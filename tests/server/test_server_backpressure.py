"""A client whose events come faster than their handlers finish: past ``MAX_PENDING``
unfinished handler tasks its messages are not read (its TCP window fills and it is slowed),
the other clients are served meanwhile, and nothing of its own is lost."""

from __future__ import annotations

import asyncio
import os
import struct

from server_wire import SIO_PATH, WAIT, StartSio

import roomcast
from roomcast.transports.engine import MAX_PENDING
from roomcast.transports.native import FRAMES_PER_TURN


def masked_text(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + body


async def test_a_client_whose_handlers_pile_up_is_not_read_until_they_finish(
    start_sio: StartSio,
) -> None:
    harness = await start_sio()
    release = asyncio.Event()
    started: list[int] = []
    held, all_started = asyncio.Event(), asyncio.Event()

    @harness.io.on("slow")
    async def slow(socket: roomcast.Socket, n: int) -> None:
        started.append(n)
        if len(started) == MAX_PENDING:
            held.set()
        if len(started) == 2000:
            all_started.set()
        await release.wait()

    bystander = await harness.bystander()
    raw = await harness.net.raw_websocket(
        "127.0.0.1", harness.listener.port, f"{SIO_PATH}?EIO=4&transport=websocket"
    )
    assert (await raw.recv_text()).startswith("0{")
    await raw.send_text("40")
    assert (await raw.recv_text()).startswith('40{"sid":')

    raw.writer.write(b"".join(masked_text(f'42["slow",{n}]') for n in range(2000)))
    await asyncio.wait_for(held.wait(), WAIT)
    for _ in range(10):  # many loop turns: the held client's frames stay where they are
        await bystander.assert_echo()
    assert MAX_PENDING <= len(started) < MAX_PENDING + FRAMES_PER_TURN

    release.set()
    await asyncio.wait_for(all_started.wait(), WAIT)
    assert started == list(range(2000))
    await raw.send_text('42["echo","after"]')
    await bystander.assert_echo()
