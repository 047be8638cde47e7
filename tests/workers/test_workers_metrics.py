"""``roomcast serve --workers 2`` with metrics: one scrape of ``/metrics``, whichever worker
answers it, gives the whole server's figures (the sum of each worker's own, which
``?scope=worker`` gives), after traffic from the official client."""

from __future__ import annotations

import re
import socket
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from integration.support import NodeClient

from .conftest import needs_node
from .workers_support import Served

pytestmark = needs_node

ServeApp = Callable[..., Awaitable[Served]]
NodeClientFactory = Callable[[str], Awaitable[NodeClient]]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(base: str, target: str, via: str | None = None) -> tuple[Samples, str]:
    """The samples at ``target`` (through a worker's unix socket ``via``, if given), and the
    X-Workers header."""
    connector = aiohttp.UnixConnector(via, force_close=True) if via else None
    async with (
        aiohttp.ClientSession(connector=connector) as http,
        http.get(base + target) as response,
    ):
        assert response.status == 200
        text = await response.text()
        workers = response.headers.get("X-Workers", "")
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, workers


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_one_scrape_gives_every_workers_figures(
    serve_app: ServeApp, node_client: NodeClientFactory
) -> None:
    served = await serve_app("metrics_app:build", workers=2)
    node = await node_client(served.url)
    holders: dict[str, list[str]] = {}
    for i in range(40):  # the kernel spreads connections: until both workers hold some
        await node.connect(f"c{i}", transports=["websocket"])
        (me,) = await node.call(f"c{i}", "whoami")
        holders.setdefault(str(me["tag"]), []).append(f"c{i}")
        if len(holders) == 2 and i >= 3:
            break
    assert len(holders) == 2, holders
    clients = [c for ids in holders.values() for c in ids]
    for client in clients:
        assert await node.call(client, "echo", "hi") == ["hi"]
        assert await node.call(client, "echo", "é") == ["é"]

    whole, workers = await scrape(served.url, "/metrics")
    assert workers == "2/2"
    n = len(clients)
    assert value(whole, "roomcast_connections", namespace="/", transport="websocket") == n
    assert value(whole, "roomcast_engine_connections", transport="websocket") == n
    assert value(whole, "roomcast_events_received_total", event="whoami") == n
    assert value(whole, "roomcast_events_received_total", event="echo") == 2 * n
    assert value(whole, "roomcast_acks_requested_total") == 3 * n
    assert value(whole, "roomcast_adapter_up", namespace="/") == 1
    assert ("roomcast_event_loop_lag_seconds_count", ()) in whole

    own = [
        (await scrape("http://worker", "/metrics?scope=worker", via=served.worker_socket(i)))[0]
        for i in range(2)
    ]
    for index, samples in enumerate(own):
        tag = f"{served.node}-{index}"
        connected = value(samples, "roomcast_connections", namespace="/", transport="websocket")
        assert connected == len(holders[tag])
    for name, labels in [
        ("roomcast_events_received_total", {"event": "echo"}),
        ("roomcast_received_bytes_total", {}),
        ("roomcast_handshakes_total", {"transport": "websocket"}),
    ]:
        assert value(whole, name, **labels) == pytest.approx(
            sum(value(samples, name, **labels) for samples in own)
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status


async def test_metrics_on_a_port_of_their_own_and_access_logs(
    serve_app: ServeApp, node_client: NodeClientFactory
) -> None:
    """``--metrics PORT``: an app without metrics gets them, on a port the workers share;
    a scrape there sums both workers (they still ask each other over their unix sockets,
    where the figures are served to no one else). ``--access-log``: a line per answer."""
    port = free_port()
    served = await serve_app(extra=("--metrics", str(port), "--access-log"))
    assert served.lines(rf"metrics: port {port}")
    node = await node_client(served.url)
    for i in range(6):
        await node.connect(f"c{i}")  # polling, then upgraded
        assert await node.call(f"c{i}", "echo", i) == [i]

    samples, workers = await scrape(f"http://127.0.0.1:{port}", "/metrics")
    assert workers == "2/2"
    assert value(samples, "roomcast_events_received_total", event="echo") == 6
    assert value(samples, "roomcast_connections", namespace="/", transport="websocket") == 6
    assert await status_of(served.url + "/metrics") == 404  # not on the public port

    await served.log.wait(text=lambda t: '"GET /socket.io/?EIO=4&transport=websocket' in t)
    polls = served.lines(
        r'roomcast\.access: 127\.0\.0\.1 - "GET /socket\.io/\?EIO=4&transport=polling'
    )
    assert polls
    assert all(re.search(r'HTTP/1\.1" 200 \d+$', line) for line in polls)
    assert served.lines(r'"GET /socket\.io/\?EIO=4&transport=websocket&sid=\S+ HTTP/1\.1" 101 0$')


async def test_metrics_on_the_public_port(serve_app: ServeApp) -> None:
    served = await serve_app(extra=("--metrics", "on"))
    samples, workers = await scrape(served.url, "/metrics")
    assert workers == "2/2"
    assert ("roomcast_event_loop_lag_seconds_count", ()) in samples
    assert not served.lines("roomcast.access")  # access logs are off by default
