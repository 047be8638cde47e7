"""What the metrics make of messages and packets, without a network (the figures after
real traffic: tests/integration/test_metrics.py)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

import roomcast
from roomcast.observe.metrics import Metrics, MetricsRoute
from roomcast.socketio import Packet, PacketType
from roomcast.transports.http import HandshakeRequest, make_headers


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_the_servers_counts_are_read_at_scrape_time() -> None:
    io = roomcast.Server(serve_client=False)
    metrics = Metrics(io, top_events=2)
    assert io.traffic is metrics.traffic
    for name in ("a", "b", "c", "a"):
        metrics.traffic.messages.append(f'21["{name}"]')  # what the server's fast path adds
        metrics.traffic.asking.append(name)
        metrics.traffic.encoded(Packet(PacketType.EVENT, "/", [name]))
    metrics.traffic.message('31["ok"]')
    metrics.traffic.packet(Packet(PacketType.ACK, "/", ["ok"], 1))
    found = samples(metrics)
    for name, n in {"a": 2, "b": 1, "other": 1}.items():
        assert found[("roomcast_events_received_total", (("event", name),))] == n
        assert found[("roomcast_events_sent_total", (("event", name),))] == n
    assert found[("roomcast_acks_requested_total", ())] == 4
    assert found[("roomcast_acks_received_total", ())] == 1
    assert found[("roomcast_received_bytes_total", ())] == 4 * 7 + 8


def test_an_idle_server() -> None:
    io = roomcast.Server(serve_client=False)
    io.of("/chat")
    found = samples(Metrics(io))
    assert found[("roomcast_engine_connections", (("transport", "websocket"),))] == 0
    assert found[("roomcast_rooms", (("namespace", "/chat"),))] == 0
    assert found[("roomcast_adapter_up", (("namespace", "/"),))] == 1
    assert ("roomcast_sent_bytes_total", ()) not in found
    assert ("roomcast_store_degraded", ()) not in found  # nothing is stored


def test_the_route_is_on_the_servers_table() -> None:
    io = roomcast.Server(serve_client=False)
    metrics = Metrics(io)
    assert io.routes().find("/metrics") is metrics.route
    assert io.routes().meter is None  # sent_bytes off: the connections write as they are
    assert Metrics(roomcast.Server(serve_client=False), sent_bytes=True).meter is not None
    elsewhere = roomcast.Server(serve_client=False)
    Metrics(elsewhere, port=9100)
    # on a port of their own, the server's table answers only the node's other workers
    # (over a unix socket: no address), for them to add the figures up
    private = elsewhere.routes().find("/metrics")
    assert isinstance(private, MetricsRoute)
    assert private.siblings_only
    for address, status in (("10.0.0.7", 404), ("", 200)):
        request = HandshakeRequest(
            method="GET",
            path="/metrics",
            query={},
            headers=make_headers([]),
            address=address,
            secure=False,
            url="/metrics",
        )
        answer = private.answer_now(request, None)
        assert answer is not None
        assert answer.status == status


def test_workers_figures_merge_into_one_servers() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from roomcast.observe.metrics import merge

    def worker(up: int, degraded: int, received: int) -> str:
        return (
            "# TYPE roomcast_adapter_up gauge\n"
            f'roomcast_adapter_up{{namespace="/"}} {up}\n'
            "# TYPE roomcast_store_degraded gauge\n"
            f"roomcast_store_degraded {degraded}\n"
            "# TYPE roomcast_events_received counter\n"
            f'roomcast_events_received_total{{event="echo"}} {received}\n'
        )

    class Merged:
        def collect(self):  # type: ignore[no-untyped-def]
            return merge([worker(1, 0, 3), worker(0, 1, 4)])

    registry = CollectorRegistry()
    registry.register(Merged())  # type: ignore[arg-type]
    text = generate_latest(registry).decode()
    assert 'roomcast_adapter_up{namespace="/"} 0.0' in text  # one worker's bus is down
    assert "roomcast_store_degraded 1.0" in text
    assert 'roomcast_events_received_total{event="echo"} 7.0' in text
