"""Prometheus metrics of a running server, at ``/metrics`` (``prometheus_client``).

``Metrics(io)`` watches ``io`` and serves its figures at ``/metrics`` on the server's port;
``Metrics(io, port=9100)`` serves them on a port of their own instead (started when the
server listens). Without a ``Metrics``, nothing is counted on the way of a message.

Where the figures come from (the server is watched, never steered):

- gauges (connections by transport and namespace, rooms, write-buffer bytes, store and
  adapter health) are read from the server's own collections when ``/metrics`` is scraped;
- counts kept by the layer that knows, on rare paths, whether metrics are on or not
  (handshake refusals, namespace CONNECTs refused, rejections in ``guard.counts``,
  disconnect reasons, ack timeouts, slow clients dropped, the store's statistics);
- per message, only with metrics on: the server's ``Traffic`` counts, plain integers and
  dicts bumped where the server already parses a message (events by name, acks, bytes) or
  encodes a packet (events sent: a broadcast to a thousand clients counts one), read at
  scrape time; with ``sent_bytes``, the bytes the native server writes.

Event names are bounded: the first ``top_events`` names seen are counted on their own, any
other as ``other`` (within one batch of the fast path's events, the order of new names is
not kept). With ``roomcast serve --workers N``, the worker a scrape reaches asks the others
for their figures over their private unix sockets and answers the sum (``merge``): one
scrape, the whole server; ``?scope=worker`` answers one worker's own figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from ..server.hosting import listen
from ..server.observer import Traffic
from ..transports.http import HandshakeRequest, HttpResponse, ReadBody
from ..transports.routes import ByteMeter, GetRoute, RouteTable, not_found

if TYPE_CHECKING:
    from ..server.server import Server
    from ..transports.engine import EngineSocket

LAG_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics(Collector):
    """The metrics of ``server``, served at ``path`` on its port (or on ``port``).

    Args:
        server: the server to watch; create the ``Metrics`` before it serves.
        path: where the figures are served.
        port: a port of their own (``host`` its interface); None: the server's.
        top_events: event names counted by name (the rest: ``other``).
        lag_interval: how often the event loop's lag is sampled, in seconds.
        registry: the registry to collect into (a fresh one by default).
        sent_bytes: count the bytes written to clients (``roomcast_sent_bytes_total``):
            one more Python call per write, about 10% of an echo ack's cost, so off by
            default.
    """

    def __init__(
        self,
        server: Server,
        *,
        path: str = "/metrics",
        port: int | None = None,
        host: str = "127.0.0.1",
        top_events: int = 100,
        lag_interval: float = 0.5,
        registry: CollectorRegistry | None = None,
        sent_bytes: bool = False,
    ) -> None:
        self.server = server
        self.traffic: Traffic = server.count_traffic(top_events)
        """The server's counts of messages and packets (read at scrape time)."""
        self.handshakes: dict[str, int] = {}
        self.meter = ByteMeter() if sent_bytes else None
        self.registry = registry if registry is not None else CollectorRegistry()
        self.loop_lag = Histogram(
            "roomcast_event_loop_lag_seconds",
            "How late the event loop ran a timer (sampled every lag_interval seconds).",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(self)
        self.route = MetricsRoute(self, path)
        self.lag_interval = lag_interval
        self._lag: asyncio.TimerHandle | None = None
        self._port, self._host = port, host
        self.reuse_port = False
        """Listen on ``port`` with ``SO_REUSEPORT`` (the workers of ``roomcast serve``
        share it; any of them answers for all)."""
        self._listener: Any = None
        self._listening = False
        self._watch(server)

    def _watch(self, server: Server) -> None:
        engine = server.engine
        engine.on("connection", self._on_connection)
        if self.meter is not None:
            server.routes().meter = self.meter
        server.services.append(self)
        # on a port of their own, the figures are still served on the server's routes to
        # the other workers of the node (unix sockets) that add them up, to no one else
        server.mount(
            self.route if self._port is None else MetricsRoute(self, self.route.path, True)
        )

    # -- serving --------------------------------------------------------------------------

    async def start(self) -> None:
        """Sample the loop's lag, and serve on the own port, if any (the server's
        ``listen`` calls it)."""
        if self._listening:
            return
        self._listening = True
        loop = asyncio.get_running_loop()
        self._lag = loop.call_later(self.lag_interval, self._sample, loop, loop.time())
        if self._port is not None:
            self._listener = await listen(
                RouteTable([self.route]), self._host, self._port, reuse_port=self.reuse_port
            )

    @property
    def port(self) -> int | None:
        """The port the figures are served on, when it is their own (once started)."""
        return None if self._listener is None else int(self._listener.port)

    async def aclose(self) -> None:
        """Stop sampling, and serving on the own port."""
        self._listening = False
        if self._lag is not None:
            self._lag.cancel()
            self._lag = None
        if self._listener is not None:
            listener, self._listener = self._listener, None
            await listener.aclose()

    def exposition(self) -> bytes:
        """The figures in Prometheus' text format."""
        return generate_latest(self.registry)

    def _sample(self, loop: asyncio.AbstractEventLoop, armed: float) -> None:
        now = loop.time()
        self.loop_lag.observe(max(0.0, now - armed - self.lag_interval))
        self.traffic.drain()
        self._lag = loop.call_later(self.lag_interval, self._sample, loop, now)

    # -- what the server reports ---------------------------------------------------------

    def _on_connection(self, engine: EngineSocket) -> None:
        transport = engine.transport
        self.handshakes[transport] = self.handshakes.get(transport, 0) + 1
        if self._lag is None:  # whatever hosts the server, the timer runs once it serves
            loop = asyncio.get_running_loop()
            self._lag = loop.call_later(self.lag_interval, self._sample, loop, loop.time())

    # -- scrape time -----------------------------------------------------------------------

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        server, engine, traffic = self.server, self.server.engine, self.traffic
        traffic.drain()
        yield from self._connections()
        yield _counter(
            "roomcast_handshakes",
            "Engine.IO sessions opened, by first transport.",
            "transport",
            self.handshakes,
        )
        yield _counter(
            "roomcast_handshake_failures",
            "Engine.IO handshakes refused, by reason.",
            "reason",
            engine.refusals,
        )
        yield _counter(
            "roomcast_connect_refusals",
            "Namespace CONNECTs refused, by reason.",
            "reason",
            server.connect_refusals,
        )
        yield _counter(
            "roomcast_events_received",
            "Events received from clients, by name (bounded: the rest are 'other').",
            "event",
            dict(traffic.events_received),
        )
        yield _counter(
            "roomcast_events_sent",
            "Events encoded to be sent, by name (a broadcast counts once).",
            "event",
            dict(traffic.events_sent),
        )
        yield CounterMetricFamily(
            "roomcast_received_bytes",
            "Bytes of the Engine.IO messages received (text as UTF-8).",
            value=traffic.received_bytes,
        )
        if self.meter is not None:
            yield CounterMetricFamily(
                "roomcast_sent_bytes",
                "Bytes written to clients by the native server (frames, HTTP responses).",
                value=self.meter.sent,
            )
        yield CounterMetricFamily(
            "roomcast_acks_requested",
            "Events received from clients that asked for an ack.",
            value=traffic.acks_requested,
        )
        yield CounterMetricFamily(
            "roomcast_acks_received",
            "Acks received from clients (answers to the server's emits with an ack).",
            value=traffic.acks_received,
        )
        namespaces = server.namespaces()
        yield _counter(
            "roomcast_ack_timeouts",
            "Acks asked of clients that did not come in time, by namespace.",
            "namespace",
            {nsp.name: nsp.ack_timeouts for nsp in namespaces},
        )
        yield _counter(
            "roomcast_rejections",
            "Events refused, by kind (guard.counts).",
            "kind",
            {str(kind): n for kind, n in server.guard.counts.items()},
        )
        disconnects = CounterMetricFamily(
            "roomcast_disconnects",
            "Sockets that left a namespace, by reason.",
            labels=["namespace", "reason"],
        )
        for nsp in namespaces:
            for reason, n in nsp.disconnects.items():
                disconnects.add_metric([nsp.name, reason], n)
        yield disconnects
        yield CounterMetricFamily(
            "roomcast_slow_client_disconnects",
            "Clients disconnected with their write buffer over max_write_buffer.",
            value=engine.overflows,
        )
        yield GaugeMetricFamily(
            "roomcast_write_buffer_bytes",
            "Bytes waiting to be written to WebSocket clients.",
            value=sum(socket.buffered_amount() for socket in list(engine.sockets.values())),
        )
        yield from self._rooms_and_adapters()
        yield from self._store()

    def _connections(self) -> Iterator[Any]:
        by_transport: dict[str, int] = {}
        for socket in list(self.server.engine.sockets.values()):
            by_transport[socket.transport] = by_transport.get(socket.transport, 0) + 1
        engine = GaugeMetricFamily(
            "roomcast_engine_connections",
            "Engine.IO connections open, by transport.",
            labels=["transport"],
        )
        for transport in ("polling", "websocket"):
            engine.add_metric([transport], by_transport.get(transport, 0))
        yield engine
        sockets = GaugeMetricFamily(
            "roomcast_connections",
            "Sockets connected, by namespace and transport.",
            labels=["namespace", "transport"],
        )
        for nsp in self.server.namespaces():
            counts: dict[str, int] = {}
            for member in list(nsp.sockets.values()):
                counts[member.transport] = counts.get(member.transport, 0) + 1
            for transport, n in counts.items():
                sockets.add_metric([nsp.name, transport], n)
        yield sockets

    def _rooms_and_adapters(self) -> Iterator[Any]:
        rooms = GaugeMetricFamily(
            "roomcast_rooms",
            "Rooms with members on this server (sockets' own rooms not counted), by namespace.",
            labels=["namespace"],
        )
        up = GaugeMetricFamily(
            "roomcast_adapter_up",
            "Whether the namespace's adapter reaches its bus (1 for a local adapter).",
            labels=["namespace"],
        )
        for nsp in self.server.namespaces():
            own = nsp.sockets
            rooms.add_metric([nsp.name], sum(1 for room in nsp.adapter.rooms if room not in own))
            bus = getattr(nsp.adapter, "bus", None)
            up.add_metric([nsp.name], 1 if bus is None or bus.connected else 0)
        yield rooms
        yield up

    def _store(self) -> Iterator[Any]:
        durability = self.server.durability
        if durability is None:
            return
        yield GaugeMetricFamily(
            "roomcast_store_degraded",
            "Whether the last call to the store failed (recovery may lose data meanwhile).",
            value=1 if durability.degraded else 0,
        )
        stats = durability.store.statistics()
        for name in type(stats).__slots__:
            yield CounterMetricFamily(
                f"roomcast_store_{name}",
                f"The store's {name.replace('_', ' ')} since it started.",
                value=getattr(stats, name),
            )


def _counter(name: str, documentation: str, label: str, values: Any) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for key, n in values.items():
        family.add_metric([key], n)
    return family


@runtime_checkable
class Siblings(Protocol):
    """A router of ``roomcast serve --workers N`` (``EngineServer.router``): it reaches the
    other workers of the node."""

    async def ask_siblings(self, target: str, timeout: float = 5.0) -> list[bytes | None]: ...


SCOPE: Final = "scope"
"""The query parameter that asks one worker for its own figures (``?scope=worker``)."""
_LEAST: Final = frozenset({"roomcast_adapter_up"})
"""Figures merged by their least value across workers (the rest add up)."""
_MOST: Final = frozenset({"roomcast_store_degraded"})
"""Figures merged by their largest value."""


def merge(expositions: Iterable[str]) -> list[Metric]:
    """The families of several workers' expositions as one server's: samples with the same
    name and labels add up (connections, counts, histogram buckets), but for whether an
    adapter is up (the least) or a store degraded (the most), and ``_created`` (the
    earliest)."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in expositions:
        for family in text_string_to_metric_families(text):
            if family.name not in families:
                families[family.name] = Metric(family.name, family.documentation, family.type)
                values[family.name] = {}
            merged = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in merged:
                    merged[key] = sample.value
                elif family.name in _LEAST or sample.name.endswith("_created"):
                    merged[key] = min(merged[key], sample.value)
                elif family.name in _MOST:
                    merged[key] = max(merged[key], sample.value)
                else:
                    merged[key] += sample.value
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
    return list(families.values())


class _Merged(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


class MetricsRoute(GetRoute):
    """``GET <path>``: the figures in Prometheus' text format. Under ``roomcast serve
    --workers N``, the worker that is asked asks the others (over their private sockets)
    and answers the whole server's figures; ``?scope=worker`` gets its own only."""

    max_message_size = 0

    def __init__(self, metrics: Metrics, path: str, siblings_only: bool = False) -> None:
        super().__init__()
        self.metrics = metrics
        self.path = path
        self.siblings_only = siblings_only
        """Answer only the node's other workers (requests over a unix socket)."""

    def exact_paths(self) -> tuple[str, ...]:
        return (self.path,)

    def _siblings(self, request: HandshakeRequest) -> Siblings | None:
        router = self.metrics.server.engine.router
        if request.query.get(SCOPE) == "worker" or not isinstance(router, Siblings):
            return None
        return router

    def answer_now(self, request: HandshakeRequest, body: bytes | None) -> HttpResponse | None:
        if self.siblings_only:
            return self.answer(request) if request.address == "" else not_found()
        return None if self._siblings(request) is not None else self.answer(request)

    async def handle_http(self, request: HandshakeRequest, read_body: ReadBody) -> HttpResponse:
        siblings = self._siblings(request)
        if siblings is None or request.method not in ("GET", "HEAD"):
            return self.answer(request)
        started = time.perf_counter()
        own = self.metrics.exposition()
        others = await siblings.ask_siblings(f"{self.path}?{SCOPE}=worker")
        answered = [body.decode() for body in others if body is not None]
        registry = CollectorRegistry()
        registry.register(_Merged(merge([own.decode(), *answered])))
        headers = {
            "Content-Type": CONTENT_TYPE_LATEST,
            "Cache-Control": "no-store",
            "X-Scrape-Seconds": f"{time.perf_counter() - started:.6f}",
            "X-Workers": f"{1 + len(answered)}/{1 + len(others)}",
        }
        return HttpResponse(200, generate_latest(registry), headers)

    def get(self, request: HandshakeRequest) -> HttpResponse:
        started = time.perf_counter()
        body = self.metrics.exposition()
        headers = {
            "Content-Type": CONTENT_TYPE_LATEST,
            "Cache-Control": "no-store",
            "X-Scrape-Seconds": f"{time.perf_counter() - started:.6f}",
        }
        return HttpResponse(200, body, headers)
