"""The processes ``roomcast serve`` starts: the workers that serve the app, and the hub.

A worker serves the app on three kinds of listening sockets that the supervisor made before
starting it (so they outlive a crash and a restart): the public one (``SO_REUSEPORT``: the
kernel spreads connections over the workers), its private unix socket (requests routed
from the other workers of the node), and with Redis an internal TCP socket (requests routed
from other nodes, announced in Redis). All three are served by the same native server.

The hub is the ``LocalHub`` that carries broadcasts between the workers when there is no
Redis; its unix socket, too, is made by the supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..adapters.memory import MemoryAdapter
from ..observe.logs import access_log
from ..server import Server
from ..server.hosting import drain
from ..transports.native import HttpProtocol
from .options import (
    AnyServer,
    AppTarget,
    ServeOptions,
    has_own_metrics,
    make_server,
    namespaces_of,
)
from .routing import Registry, Router

if TYPE_CHECKING:
    from ..adapters.cluster import ClusterAdapterFactory

logger = logging.getLogger("roomcast.serve")


@dataclass(frozen=True, slots=True)
class WorkerSockets:
    """The listening sockets of one worker (made by the supervisor, kept across restarts)."""

    public: socket.socket
    private: socket.socket
    internal: socket.socket | None = None


@dataclass(frozen=True, slots=True)
class NodePlan:
    """What the workers of one node share."""

    node: str
    runtime_dir: str
    bus_path: str | None
    """The local hub's socket (None: Redis, or a single worker)."""


def run_worker(
    target: AppTarget,
    options: ServeOptions,
    plan: NodePlan,
    index: int,
    sockets: WorkerSockets,
    ready_fd: int,
) -> int:
    """Serve the app until SIGTERM or SIGINT; write ``"{index} {pid}"`` to ``ready_fd`` once
    listening. Returns the exit status."""
    return _run(_serve(target, options, plan, index, sockets, ready_fd))


def run_hub(sock: socket.socket) -> int:
    """Relay the workers' broadcasts on ``sock`` until SIGTERM (SIGINT is for the workers:
    the hub outlives them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def main() -> int:
        from ..adapters.local import LocalHub

        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        hub = LocalHub()
        await hub.start(sock=sock)
        await stop.wait()
        await hub.aclose()
        return 0

    return _run(main())


def _run(main: Coroutine[Any, Any, int]) -> int:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def _serve(
    target: AppTarget,
    options: ServeOptions,
    plan: NodePlan,
    index: int,
    sockets: WorkerSockets,
    ready_fd: int,
) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    io = make_server(target)
    engine = io.engine
    adapters = _cluster(io, options, plan)
    registry = Registry.from_url(options.redis, key=options.redis_key) if options.redis else None
    router = Router(
        plan.node,
        index,
        workers=options.workers,
        runtime_dir=plan.runtime_dir,
        registry=registry,
        max_payload=engine.config.max_payload,
        read_timeout=engine.config.ping_interval + engine.config.ping_timeout + 30.0,
    )
    engine.router = router
    if isinstance(io, Server):
        if options.store is not None:
            io.use_store(options.store)
        if io.durability is not None:
            await io.durability.start()  # a damaged SQLite file stops the worker here
        for nsp in namespaces_of(io):
            await nsp.adapter.init()

    if isinstance(io, Server):
        await _observe(io, options)
    routes = io.routes()
    routes.header_timeout = options.header_timeout
    routes.keep_alive_timeout = options.keep_alive_timeout
    if options.access_log:
        access_log(routes)

    def protocol() -> HttpProtocol:
        return HttpProtocol(routes)

    # TLS ends here, on the public port: requests routed to another worker (private unix
    # socket) or node (internal port) travel inside the cluster as plain HTTP
    public = await loop.create_server(protocol, sock=sockets.public, ssl=options.tls())
    servers = [public, await loop.create_unix_server(protocol, sock=sockets.private)]
    if sockets.internal is not None:
        servers.append(await loop.create_server(protocol, sock=sockets.internal))
        if registry is not None:
            await registry.announce(router.tag, advertised(sockets.internal))
    os.write(ready_fd, f"{index} {os.getpid()}\n".encode())
    os.close(ready_fd)
    await stop.wait()
    io.draining = True  # /readyz: 503 from now on
    public.close()  # no new clients; routed requests still come in while sessions close
    try:
        await asyncio.wait_for(_drain(io, options.drain_seconds), options.shutdown_timeout)
    except TimeoutError:
        logger.warning(
            "worker %d: sessions still open after %.0f s", index, options.shutdown_timeout
        )
    for server in servers:
        server.close()
    await router.aclose()
    if registry is not None:
        await registry.aclose(withdraw=router.tag)
    if adapters is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(adapters.aclose(), options.shutdown_timeout)
    return 0


async def _observe(io: Server, options: ServeOptions) -> None:
    """Metrics as ``--metrics`` says (unless the app made its own), then start what is
    served beside the app (metrics on their own port: shared by the workers)."""
    if options.metrics != "off" and not has_own_metrics(io):
        from ..observe.metrics import Metrics  # the metrics extra, only when asked for

        Metrics(io, port=options.metrics_port, host=options.host)
    for service in io.services:
        if hasattr(service, "reuse_port"):  # a port of its own, shared by the workers
            service.reuse_port = True
        await service.start()


async def _drain(io: AnyServer, seconds: float) -> None:
    """Disconnect the clients spread over ``seconds``, then close the rest and the store."""
    await drain(io.hosted_engine, seconds)
    await io.aclose()


def _cluster(io: AnyServer, options: ServeOptions, plan: NodePlan) -> ClusterAdapterFactory | None:
    """Give ``io`` the cluster adapter of the node (Redis, or the local hub), unless it has
    no namespaces or chose its own adapter. Returns the factory to close at the end."""
    if not isinstance(io, Server) or (options.redis is None and plan.bus_path is None):
        return None
    if io.adapter_factory is not MemoryAdapter:
        logger.info("keeping the app's own adapter %r", io.adapter_factory)
        return None
    factory: ClusterAdapterFactory
    if options.redis is not None:
        from ..adapters.redis import RedisAdapter

        factory = RedisAdapter.factory(options.redis, key=options.redis_key)
    else:
        from ..adapters.local import LocalAdapter

        assert plan.bus_path is not None
        factory = LocalAdapter.factory(plan.bus_path)
    io.adapter_factory = factory
    for nsp in namespaces_of(io):
        nsp.adapter = factory(nsp)
    return factory


def advertised(sock: socket.socket) -> tuple[str, int]:
    """Where other nodes reach ``sock`` (a wildcard address becomes this host's address)."""
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = socket.gethostbyname(socket.gethostname())
    return str(host), int(port)
