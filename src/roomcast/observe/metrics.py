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
- per message, only with metrics on: the messages received are appended to an inbox
  (``EngineServer.tap``) and counted in bulk twice a second and at each scrape (events by
  name, acks, bytes); events sent, counted once per encoded packet (a broadcast to a
  thousand clients counts one); with ``sent_bytes``, the bytes the native server writes.

Event names are bounded: the first ``top_events`` names seen are counted on their own, any
other as ``other``. With ``roomcast serve --workers N``, each worker's ``/metrics`` shows
that worker (its connections, its traffic).
"""

from __future__ import annotations

import asyncio
import operator
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from ..server.hosting import listen
from ..socketio import Packet, PacketType
from ..transports.http import HandshakeRequest, HttpResponse
from ..transports.routes import ByteMeter, GetRoute, RouteTable

if TYPE_CHECKING:
    from ..server.server import Server
    from ..transports.engine import EngineSocket

OTHER: Final = "other"
"""The label of the event names past the first ``top_events``."""
LAG_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_EVENTS: Final = (PacketType.EVENT, PacketType.BINARY_EVENT)
HEAD_CHARS: Final = 64
"""How much of each message received is read: its head holds the type, namespace, ack id
and event name (a longer name counts as ``other``)."""
# after each \x1e: an ACK / BINARY_ACK (group 1), or an EVENT / BINARY_EVENT with
# [attachments-][/nsp,][ack id]["name" (group 2: the ack id's first digit, if any; group 3:
# the name, '' when it is not a plain string)
_HEADS: Final = re.compile(
    r'\x1e(?:([36])|[25](?:\d+-)?(?:/[^,\x1e]*,)?(\d?)\d*\[(?:"([^"\\\x1e]*)")?)'
)
_HEAD_OF: Final = operator.itemgetter(slice(0, HEAD_CHARS))


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
        self.top_events = top_events
        self.received: dict[str, int] = {}
        """Events received, by name (bounded)."""
        self.sent: dict[str, int] = {}
        """Events sent, by name (bounded): one per encoded packet."""
        self.handshakes: dict[str, int] = {}
        self.bytes_received = 0
        self.acks_requested = 0
        self.acks_received = 0
        self.meter = ByteMeter() if sent_bytes else None
        self._inbox: list[str | bytes] = []  # messages received, not counted yet
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
        self._listener: Any = None
        self._listening = False
        self._watch(server)

    def _watch(self, server: Server) -> None:
        engine = server.engine
        engine.on("connection", self._on_connection)
        engine.tap(self._inbox)
        server.observer = self
        if self.meter is not None:
            server.routes().meter = self.meter
        server.services.append(self)
        if self._port is None:
            server.mount(self.route)

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
            self._listener = await listen(RouteTable([self.route]), self._host, self._port)

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
        self.drain()
        self._lag = loop.call_later(self.lag_interval, self._sample, loop, now)

    # -- what the server reports ---------------------------------------------------------

    def _on_connection(self, engine: EngineSocket) -> None:
        transport = engine.transport
        self.handshakes[transport] = self.handshakes.get(transport, 0) + 1
        if self._lag is None:  # whatever hosts the server, the timer runs once it serves
            loop = asyncio.get_running_loop()
            self._lag = loop.call_later(self.lag_interval, self._sample, loop, loop.time())

    def drain(self) -> None:
        """Count the messages received since the last time (the timer and each scrape call
        it): in bulk, with C-level joins, scans and counters rather than Python per message."""
        inbox = self._inbox
        if not inbox:
            return
        messages = inbox[:]
        del inbox[:]
        texts: list[str] = messages  # type: ignore[assignment]
        try:
            joined = "".join(texts)
        except TypeError:  # binary attachments among them
            self.bytes_received += sum(len(m) for m in messages if type(m) is not str)
            texts = [m for m in messages if isinstance(m, str)]
            joined = "".join(texts)
        self.bytes_received += len(joined) if joined.isascii() else len(joined.encode())
        heads = "\x1e" + "\x1e".join(map(_HEAD_OF, texts))
        for (ack, asks, name), n in Counter(_HEADS.findall(heads)).items():
            if ack:
                self.acks_received += n
                continue
            if asks:
                self.acks_requested += n
            self._count(self.received, name or OTHER, n)

    def encoded(self, packet: Packet, parts: Sequence[str | bytes]) -> None:
        if packet.type in _EVENTS and packet.data:
            name = packet.data[0]
            self._count(self.sent, name if type(name) is str else OTHER)

    def _count(self, counts: dict[str, int], name: str, n: int = 1) -> None:
        if name not in counts and len(counts) >= self.top_events:
            name = OTHER
        counts[name] = counts.get(name, 0) + n

    # -- scrape time -----------------------------------------------------------------------

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        self.drain()
        server, engine = self.server, self.server.engine
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
            self.received,
        )
        yield _counter(
            "roomcast_events_sent",
            "Events encoded to be sent, by name (a broadcast counts once).",
            "event",
            self.sent,
        )
        yield CounterMetricFamily(
            "roomcast_received_bytes",
            "Bytes of the Engine.IO messages received (text as UTF-8).",
            value=self.bytes_received,
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
            value=self.acks_requested,
        )
        yield CounterMetricFamily(
            "roomcast_acks_received",
            "Acks received from clients (answers to the server's emits with an ack).",
            value=self.acks_received,
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


class MetricsRoute(GetRoute):
    """``GET <path>``: the figures in Prometheus' text format."""

    max_message_size = 0

    def __init__(self, metrics: Metrics, path: str) -> None:
        super().__init__()
        self.metrics = metrics
        self.path = path

    def exact_paths(self) -> tuple[str, ...]:
        return (self.path,)

    def get(self, request: HandshakeRequest) -> HttpResponse:
        started = time.perf_counter()
        body = self.metrics.exposition()
        headers = {
            "Content-Type": CONTENT_TYPE_LATEST,
            "Cache-Control": "no-store",
            "X-Scrape-Seconds": f"{time.perf_counter() - started:.6f}",
        }
        return HttpResponse(200, body, headers)
