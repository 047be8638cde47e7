"""What ``roomcast serve`` runs: its options, and the app named ``module:attribute``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..exceptions import RoomcastError
from ..server import EngineServer, Server
from ..server.hosting import tls_context
from ..transports.routes import HEADER_TIMEOUT, KEEP_ALIVE_TIMEOUT

if TYPE_CHECKING:
    from ..server.namespace import Namespace

AnyServer = Server | EngineServer
AppTarget = AnyServer | Callable[[], AnyServer]
"""A server, or a function without arguments that returns one (called in each worker)."""


class AppError(RoomcastError):
    """The app to serve cannot be loaded, or is not a server."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """How ``serve`` runs an app (the command line's options).

    Attributes:
        workers: processes serving the app, all on ``port``.
        host: the public address.
        port: the public port (0: a free one, shared by the workers).
        redis: a Redis URL: broadcasts and routing across nodes go through it. Without it,
            the workers of this machine form the cluster (a local hub relays broadcasts).
        redis_key: the channel prefix (the Redis adapter's ``key``).
        internal_host: with Redis, where the other nodes reach this one's workers (each
            worker listens on a free port there and announces it in Redis).
        runtime_dir: where the private unix sockets go (default: a fresh temporary
            directory, removed at exit).
        backlog: the listen backlog of each worker.
        shutdown_timeout: seconds a worker has to finish once told to stop (the graceful
            timeout: the drain included).
        drain_seconds: on SIGTERM, disconnect the clients spread over this many seconds
            (0: at once); shorter than ``shutdown_timeout``.
        store: a store URL for recovery and history (``Server.use_store``), replacing the
            app's own.
        certfile: serve TLS on the public port (``wss://``, ``https://``): the certificate
            chain (PEM), with ``keyfile`` its key (or the key in the same file).
        keyfile: the private key of ``certfile``.
        header_timeout: seconds a client has to send a request whole (None: no limit).
        keep_alive_timeout: seconds an idle keep-alive connection is kept (None: no limit).
        metrics: Prometheus metrics, unless the app has its own ``Metrics``: ``"off"``,
            ``"on"`` (``/metrics`` on the public port) or a port of their own (as a
            string); either way one scrape gives every worker's figures.
        access_log: log each HTTP answer (``roomcast.access``).
    """

    workers: int = 1
    host: str = "127.0.0.1"
    port: int = 3000
    redis: str | None = None
    redis_key: str = "socket.io"
    internal_host: str = "127.0.0.1"
    runtime_dir: str | None = None
    backlog: int = 2048
    shutdown_timeout: float = 10.0
    drain_seconds: float = 0.0
    store: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    header_timeout: float | None = HEADER_TIMEOUT
    keep_alive_timeout: float | None = KEEP_ALIVE_TIMEOUT
    metrics: str = "off"
    access_log: bool = False

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError("workers must be at least 1")
        if not 0 <= self.port < 65536:
            raise ValueError(f"invalid port {self.port}")
        if not 0 <= self.drain_seconds < self.shutdown_timeout:
            raise ValueError("--drain-seconds must be at least 0 and under --graceful-timeout")
        if self.keyfile is not None and self.certfile is None:
            raise ValueError("--keyfile needs --certfile")
        if self.metrics not in ("off", "on") and not (
            self.metrics.isdigit() and 0 < int(self.metrics) < 65536
        ):
            raise ValueError(f"--metrics is off, on or a port, not {self.metrics!r}")
        if self.metrics.isdigit() and int(self.metrics) == self.port:
            raise ValueError("--metrics: a port of their own, not the public port (use on)")

    @property
    def metrics_port(self) -> int | None:
        """The metrics' own port, if they have one."""
        return int(self.metrics) if self.metrics.isdigit() else None

    def tls(self) -> ssl.SSLContext | None:
        """The TLS context of the public port (None: plain TCP).

        Raises:
            ValueError: the certificate or the key cannot be loaded (which file, and why).
        """
        if self.certfile is None:
            return None
        return tls_context(self.certfile, self.keyfile)

    @property
    def scheme(self) -> str:
        return "https" if self.certfile is not None else "http"


def load_target(spec: str) -> AppTarget:
    """Import ``module:attribute`` (the module from the working directory too) or load
    ``path/to/file.py:attribute`` (its folder goes on ``sys.path``, for its own imports).

    Raises:
        AppError: the module, file or attribute is missing, or it is not a server or a
            factory.
    """
    module_name, colon, attribute = spec.rpartition(":")
    if not module_name or not colon or not attribute:
        raise AppError(
            f"expected module:attribute or path/to/file.py:attribute (for example app:io), "
            f"not {spec!r}"
        )
    if module_name.endswith(".py") or "/" in module_name or os.sep in module_name:
        value: object = _load_file(Path(module_name))
    else:
        value = _import(module_name)
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise AppError(f"{module_name!r} has no attribute {attribute!r}") from None
    if isinstance(value, AnyServer) or callable(value):
        return value
    raise AppError(f"{spec} is a {type(value).__name__}, not a roomcast.Server or a factory")


def _import(module_name: str) -> object:
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module_name)
    except ImportError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise AppError(f"cannot import {module_name!r}: {exc}") from exc
        raise  # a broken import inside the app: show its own traceback


def _load_file(path: Path) -> object:
    """Run the file as a module named after it (not ``__main__``: its ``if __name__ ==
    "__main__"`` block does not run)."""
    path = path.resolve()
    if not path.is_file():
        raise AppError(f"no such file: {str(path)!r}")
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = path.stem if path.stem.isidentifier() else "roomcast_app"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AppError(f"cannot load {str(path)!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise  # an error inside the app: show its own traceback
    return module


def make_server(target: AppTarget) -> AnyServer:
    """The server of ``target`` (a factory is called here, in the worker)."""
    if isinstance(target, AnyServer):
        return target
    server = target()
    if not isinstance(server, AnyServer):
        raise AppError(f"the factory returned a {type(server).__name__}, not a roomcast.Server")
    return server


def has_own_metrics(io: AnyServer) -> bool:
    """Whether the app made its own ``Metrics`` (the metrics extra is not imported to
    find out: an app that has none did not import it)."""
    module = sys.modules.get("roomcast.observe.metrics")
    return (
        module is not None
        and isinstance(io, Server)
        and any(isinstance(service, module.Metrics) for service in io.services)
    )


def namespaces_of(io: Server) -> list[Namespace]:
    """Every namespace of ``io``, the parents of dynamic ones included."""
    return io.namespaces()
