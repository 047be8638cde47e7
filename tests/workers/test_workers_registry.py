"""The pieces of routing on their own: session ids and tags, locating an owner, and the
registry of internal addresses in (real) Redis."""

from __future__ import annotations

import pytest

from roomcast.cluster.routing import (
    ROUTED_HEADER,
    Registry,
    Router,
    _address,
    owner_tag,
    worker_socket,
    worker_tag,
)
from roomcast.transports.http import HandshakeRequest, make_headers

from .workers_support import REDIS_URL, redis_answers, unique_key


def request(sid: str, *headers: tuple[str, str]) -> HandshakeRequest:
    return HandshakeRequest(
        method="GET",
        path="/socket.io/",
        query={"EIO": "4", "transport": "polling", "sid": sid},
        headers=make_headers(list(headers)),
        address="127.0.0.1",
        secure=False,
        url=f"/socket.io/?EIO=4&transport=polling&sid={sid}",
    )


def test_session_ids_name_their_worker() -> None:
    router = Router("abc123", 1, workers=2, runtime_dir="/run/x")
    sid = router.new_sid()
    assert sid.startswith("abc123-1.")
    assert owner_tag(sid) == "abc123-1"
    for bad in ("plain", "abc-1", "a.b", "abc123-x.y", "abc 1-1.y", ".x", "-1.x"):
        assert owner_tag(bad) is None, bad
    with pytest.raises(ValueError, match="letters or digits"):
        worker_tag("a-b", 0)


async def test_owners_on_this_node_are_found_in_the_runtime_directory() -> None:
    router = Router("abc123", 1, workers=2, runtime_dir="/run/x")
    assert await router.locate(request("abc123-0.tok")) == worker_socket("/run/x", 0)
    assert await router.locate(request("abc123-1.tok")) is None  # held here, or gone
    assert await router.locate(request("abc123-2.tok")) is None  # no such worker
    assert await router.locate(request("other9-0.tok")) is None  # no registry
    routed = request("abc123-0.tok", (ROUTED_HEADER, "abc123-0"))
    assert await router.locate(routed) is None  # routed once already: never again


@pytest.mark.skipif(not redis_answers(), reason="no Redis answers on 127.0.0.1:6379")
async def test_the_registry_announces_and_finds_addresses() -> None:
    key = unique_key()
    here, there = Registry.from_url(REDIS_URL, key=key), Registry.from_url(REDIS_URL, key=key)
    try:
        await here.announce("node1-0", ("10.0.0.5", 40123))
        assert await there.lookup("node1-0") == ("10.0.0.5", 40123)
        assert await there.lookup("node1-1") is None
        router = Router("node2", 0, workers=1, runtime_dir="/run/y", registry=there)
        assert await router.locate(request("node1-0.tok")) == ("10.0.0.5", 40123)
        await here.aclose(withdraw="node1-0")
        assert await there.lookup("node1-0") == ("10.0.0.5", 40123)  # remembered
        there.forget("node1-0")
        assert await there.lookup("node1-0") is None  # withdrawn
    finally:
        await here.aclose()
        await there.aclose()


@pytest.mark.parametrize(
    ("raw", "address"),
    [
        (b"10.0.0.2:8001", ("10.0.0.2", 8001)),
        ("[::1]:8001", ("::1", 8001)),
        ("10.0.0.2:80\u00b2", None),  # a digit to str.isdigit that int() refuses
        ("10.0.0.2:", None),
        (":80", None),
        (80, None),
    ],
)
def test_registry_addresses_are_read_or_skipped(raw: object, address: object) -> None:
    assert _address(raw) == address
