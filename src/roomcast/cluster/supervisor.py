"""The supervisor: ``roomcast serve``'s main process.

It makes every listening socket first (the workers' public sockets share one port with
``SO_REUSEPORT``; their private unix sockets and the hub's live in the runtime directory),
then forks the hub (only without Redis and with several workers) and the workers, and
watches them: a worker or hub that dies is started again on the same sockets, so the
connections the kernel queued meanwhile are served by its successor. SIGINT or SIGTERM
stops the workers (each closes its sessions within ``shutdown_timeout``), then the hub.

It runs no event loop and no thread, so forking is safe: the app is imported once, here,
and each worker gets it through ``fork`` (a factory is called in each worker).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from ..adapters.memory import MemoryAdapter
from ..exceptions import RoomcastError
from ..server import Server
from ..transports.routes import HEADER_TIMEOUT, KEEP_ALIVE_TIMEOUT
from .options import AppTarget, ServeOptions, has_own_metrics, load_target
from .routing import new_node_id, worker_socket
from .worker import NodePlan, WorkerSockets, run_hub, run_worker

logger = logging.getLogger("roomcast.serve")

_HUB = -1
"""The index of the hub among the children."""


class ServeError(RoomcastError):
    """The workers could not be started (the reason is in the message)."""


def serve(
    app: AppTarget | str,
    *,
    workers: int = 1,
    host: str = "127.0.0.1",
    port: int = 3000,
    redis: str | None = None,
    redis_key: str = "socket.io",
    internal_host: str = "127.0.0.1",
    runtime_dir: str | None = None,
    shutdown_timeout: float = 10.0,
    drain_seconds: float = 0.0,
    store: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    header_timeout: float | None = HEADER_TIMEOUT,
    keep_alive_timeout: float | None = KEEP_ALIVE_TIMEOUT,
    metrics: str | int = "off",
    access_log: bool = False,
) -> None:
    """Serve ``app`` with ``workers`` processes on one port until SIGINT or SIGTERM; SIGHUP
    restarts the workers one at a time (each drains, its successor serves, then the next).

    Broadcasts reach the clients of every worker (through Redis when ``redis`` is a URL,
    else through a local hub), and a long-polling or upgrade request that lands on a worker
    that does not hold its session is served by the one that does: no sticky sessions. With
    ``redis``, nodes started separately (on several machines) form one cluster the same way.

    Args:
        app: a ``roomcast.Server``, a function without arguments returning one (called in
            each worker), or ``"module:attribute"`` naming either.
        workers: processes serving the app.
        host: the public address.
        port: the public port (0: a free one).
        redis: a Redis URL (``redis://host:port``), to share broadcasts and sessions with
            other nodes; needs the redis extra.
        redis_key: the channel prefix (the Redis adapter's ``key``).
        internal_host: with ``redis``, the address other nodes reach this one's workers on.
        runtime_dir: where the private unix sockets go (default: a temporary directory).
        shutdown_timeout: seconds each worker has to close its sessions when stopping (the
            graceful timeout, the drain included).
        drain_seconds: on SIGTERM, disconnect the clients spread over this many seconds
            (0: at once), so that they do not all reconnect in the same second.
        store: a store URL (``memory://``, ``sqlite:///path``, ``redis://...``) for
            recovery and history, replacing the app's own (``Server.use_store``).
        certfile: serve TLS (``wss://``, ``https://``) with this certificate chain (PEM);
            ``keyfile``: its key. Both are loaded once before any worker starts.
        header_timeout: seconds a client has to send a request whole, body included (408 and
            close; slowloris); None: no limit.
        keep_alive_timeout: seconds an idle keep-alive connection is kept; None: no limit.
        metrics: Prometheus metrics when the app has no ``Metrics`` of its own: ``"off"``,
            ``"on"`` (``/metrics`` on the public port) or a port of their own; one scrape
            gives every worker's figures. Needs the metrics extra.
        access_log: log each HTTP answer on the ``roomcast.access`` logger.

    Raises:
        ServeError: the workers could not be started.
        AppError: ``app`` names nothing that serves.
        ValueError: an option is invalid, or the certificate or key cannot be loaded.

    Call it from the main thread of a process that runs no event loop (it forks).
    """
    options = ServeOptions(
        workers=workers,
        host=host,
        port=port,
        redis=redis,
        redis_key=redis_key,
        internal_host=internal_host,
        runtime_dir=runtime_dir,
        shutdown_timeout=shutdown_timeout,
        drain_seconds=drain_seconds,
        store=store,
        certfile=certfile,
        keyfile=keyfile,
        header_timeout=header_timeout,
        keep_alive_timeout=keep_alive_timeout,
        metrics=str(metrics),
        access_log=access_log,
    )
    options.tls()  # a certificate or key that cannot be loaded fails here, with its reason
    Supervisor(load_target(app) if isinstance(app, str) else app, options).run()


_PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int) -> None:
    """Have the kernel send this child SIGTERM when its parent ends, even killed by SIGKILL
    (Linux's ``PR_SET_PDEATHSIG``): a worker never serves on without its supervisor, nor a
    supervisor without its reloader. If the parent ended before this ran, end now."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
            logger.warning("cannot tie this process to its parent: errno %d", ctypes.get_errno())
    if os.getppid() != parent:
        os._exit(1)


@dataclass(slots=True)
class _Child:
    index: int
    pid: int
    started: float
    ready: bool = False

    @property
    def name(self) -> str:
        return "the hub" if self.index == _HUB else f"worker {self.index}"


class Supervisor:
    """Starts the hub and the workers, restarts them when they die, stops them on a signal."""

    def __init__(self, target: AppTarget, options: ServeOptions) -> None:
        self.target = target
        self.options = options
        self.node = new_node_id()
        self.port = options.port
        self._children: dict[int, _Child] = {}
        self._restarts: dict[int, float] = {}  # index -> when
        self._delays: dict[int, float] = {}
        self._sockets: dict[int, WorkerSockets] = {}
        self._hub_socket: socket.socket | None = None
        self._runtime = ""
        self._own_runtime = False
        self._stopping: int | None = None
        self._serving = False
        self._roll_requested = False
        self._rolling: list[int] = []  # indexes still to restart
        self._replacing: tuple[int, int] | None = None  # (index, pid) being replaced
        self._wake_r = self._wake_w = self._ready_r = self._ready_w = -1
        self._ready_buffer = b""
        self._saved: dict[int, Any] = {}
        self._pid = os.getpid()

    # -- the whole run -------------------------------------------------------------------

    def run(self) -> None:
        """Serve until SIGINT or SIGTERM (raises ServeError if the workers cannot start)."""
        if self.options.workers > 1 and not hasattr(socket, "SO_REUSEPORT"):
            raise ServeError("several workers need SO_REUSEPORT (Linux, BSD, macOS)")
        _check_extras(self.options)
        self._runtime = self.options.runtime_dir or tempfile.mkdtemp(prefix="roomcast-")
        self._own_runtime = self.options.runtime_dir is None
        try:
            self._bind()
            self._ready_r, self._ready_w = os.pipe()
            self._install_signals()
            if self._hub_socket is not None:
                self._start(_HUB)
            for index in range(self.options.workers):
                self._start(index)
            self._supervise()
        finally:
            self._stop_children()
            self._restore_signals()
            self._release()

    def _plan(self) -> NodePlan:
        bus = None if self._hub_socket is None else str(Path(self._runtime) / "bus.sock")
        return NodePlan(self.node, self._runtime, bus)

    # -- sockets ---------------------------------------------------------------------------

    def _bind(self) -> None:
        options = self.options
        if options.port:
            _check_free(options.host, options.port)
        if options.metrics_port is not None:
            _check_free(options.host, options.metrics_port)
        port = options.port
        public: list[socket.socket] = []
        for _ in range(options.workers):
            sock = _tcp_listener(options.host, port, options.backlog, reuse_port=True)
            port = sock.getsockname()[1]
            public.append(sock)
        self.port = port
        for index, sock in enumerate(public):
            internal = None
            if options.redis is not None:
                internal = _tcp_listener(options.internal_host, 0, options.backlog)
            private = _unix_listener(worker_socket(self._runtime, index), options.backlog)
            self._sockets[index] = WorkerSockets(sock, private, internal)
        if options.redis is None and options.workers > 1:
            self._hub_socket = _unix_listener(str(Path(self._runtime) / "bus.sock"), 128)

    def _all_sockets(self) -> list[socket.socket]:
        found = [s for w in self._sockets.values() for s in (w.public, w.private, w.internal)]
        found.append(self._hub_socket)
        return [s for s in found if s is not None]

    def _release(self) -> None:
        for sock in self._all_sockets():
            sock.close()
        for fd in (self._ready_r, self._ready_w):
            if fd >= 0:
                os.close(fd)
        if self._own_runtime:
            shutil.rmtree(self._runtime, ignore_errors=True)
        else:
            for index in self._sockets:
                with contextlib.suppress(OSError):
                    os.unlink(worker_socket(self._runtime, index))
            with contextlib.suppress(OSError):
                os.unlink(Path(self._runtime) / "bus.sock")

    # -- signals -----------------------------------------------------------------------------

    def _install_signals(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._saved[-1] = signal.set_wakeup_fd(self._wake_w, warn_on_full_buffer=False)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            self._saved[signum] = signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            self._roll_requested = True
        elif signum != signal.SIGCHLD:
            if self._stopping is not None:  # the second time: no more waiting
                self._kill_all()
            self._stopping = signum

    def _restore_signals(self) -> None:
        if -1 not in self._saved:
            return
        for signum, handler in self._saved.items():
            if signum != -1:
                signal.signal(signum, handler)
        signal.set_wakeup_fd(self._saved[-1])
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._wake_r = self._wake_w = -1
        self._saved.clear()

    def _wait(self, timeout: float) -> None:
        """Sleep until a signal, a ready worker, or ``timeout``."""
        fds = [fd for fd in (self._wake_r, self._ready_r) if fd >= 0]
        if not fds:
            time.sleep(timeout)
            return
        with contextlib.suppress(InterruptedError):
            readable, _, _ = select.select(fds, [], [], timeout)
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 512):
                        pass
            if self._ready_r in readable:
                self._read_ready()

    # -- children ------------------------------------------------------------------------------

    def _start(self, index: int) -> None:
        if index == _HUB:
            assert self._hub_socket is not None
            hub_socket = self._hub_socket
            keep = [hub_socket]

            def run() -> int:
                return run_hub(hub_socket)
        else:
            sockets = self._sockets[index]
            keep = [s for s in (sockets.public, sockets.private, sockets.internal) if s]
            plan, ready_w = self._plan(), self._ready_w

            def run() -> int:
                return run_worker(self.target, self.options, plan, index, sockets, ready_w)

        pid = self._fork(run, keep)
        self._children[index] = _Child(index, pid, time.monotonic(), ready=index == _HUB)
        logger.debug("started %s (pid %d)", self._children[index].name, pid)

    def _fork(self, run: Callable[[], int], keep: list[socket.socket]) -> int:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        pid = os.fork()
        if pid:
            return pid
        code = 1
        try:
            self._become_child(keep)
            code = run()
        except KeyboardInterrupt:
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)

    def _become_child(self, keep: list[socket.socket]) -> None:
        end_with_parent(self._pid)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)  # the supervisor's: a rolling restart
        for fd in (self._wake_r, self._wake_w, self._ready_r):
            if fd >= 0:
                os.close(fd)
        for sock in self._all_sockets():
            if all(sock is not kept for kept in keep):
                sock.close()

    def _read_ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._ready_buffer += os.read(self._ready_r, 4096)
        *lines, self._ready_buffer = self._ready_buffer.split(b"\n")
        for line in lines:
            index, _, pid = line.decode().partition(" ")
            child = self._children.get(int(index))
            if child is not None and child.pid == int(pid):
                child.ready = True
                if self._serving:
                    logger.info("%s is serving again (pid %d)", child.name, child.pid)

    def _reap(self) -> list[tuple[_Child, int]]:
        """The children that exited, with their exit codes (negative: killed by a signal)."""
        ended = []
        for child in list(self._children.values()):
            try:
                pid, status = os.waitpid(child.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = child.pid, 0
            if pid:
                del self._children[child.index]
                ended.append((child, os.waitstatus_to_exitcode(status)))
        return ended

    # -- supervising ---------------------------------------------------------------------------

    def _supervise(self) -> None:
        while self._stopping is None:
            now = time.monotonic()
            timeout = min((at - now for at in self._restarts.values()), default=1.0)
            self._wait(max(0.0, min(timeout, 1.0)))
            for child, code in self._reap():
                self._ended(child, code)
            self._roll()
            now = time.monotonic()
            for index, at in list(self._restarts.items()):
                if at <= now and self._stopping is None:
                    del self._restarts[index]
                    self._start(index)
            if not self._serving and all(c.ready for c in self._children.values()):
                self._serving = True
                logger.info(
                    "roomcast: %d worker%s serving %s://%s:%d (node %s, supervisor pid %d)"
                    "; adapter: %s; store: %s; TLS: %s; metrics: %s",
                    self.options.workers,
                    "" if self.options.workers == 1 else "s",
                    self.options.scheme,
                    self.options.host,
                    self.port,
                    self.node,
                    os.getpid(),
                    *describe(self.target, self.options),
                )

    def _roll(self) -> None:
        """A rolling restart, one step: SIGTERM the next worker once the last one's
        successor serves."""
        if self._roll_requested:
            self._roll_requested = False
            if self._serving and not self._rolling and self._replacing is None:
                self._rolling = sorted(i for i in self._children if i != _HUB)
                logger.info("rolling restart of %d worker(s)", len(self._rolling))
        if self._replacing is not None:
            index, old = self._replacing
            successor = self._children.get(index)
            if successor is None or successor.pid == old or not successor.ready:
                return
            logger.info("worker %d restarted (pid %d, was %d)", index, successor.pid, old)
            self._replacing = None
            if not self._rolling:
                logger.info("rolling restart done")
        while self._rolling and self._replacing is None:
            child = self._children.get(self._rolling.pop(0))
            if child is not None:
                self._replacing = (child.index, child.pid)
                _signal(child.pid, signal.SIGTERM)

    def _ended(self, child: _Child, code: int) -> None:
        if self._stopping is not None:
            return
        if self._replacing == (child.index, child.pid):
            self._start(child.index)  # drained on purpose: its successor starts at once
            return
        if not self._serving:
            raise ServeError(f"{child.name} exited with status {code} while starting")
        quick = time.monotonic() - child.started < 10.0
        delay = min(self._delays.get(child.index, 0.25) * 2, 10.0) if quick else 0.5
        self._delays[child.index] = delay
        self._restarts[child.index] = time.monotonic() + delay
        logger.warning(
            "%s (pid %d) exited with status %d; starting it again in %.1f s",
            child.name,
            child.pid,
            code,
            delay,
        )

    def _stop_children(self) -> None:
        """SIGTERM the workers, then the hub; SIGKILL what is left after the timeouts."""
        self._stopping = self._stopping or signal.SIGTERM
        self._restarts.clear()
        workers = [c for c in self._children.values() if c.index != _HUB]
        self._terminate(workers, self.options.shutdown_timeout + 2.0)
        self._terminate(list(self._children.values()), 5.0)

    def _terminate(self, children: list[_Child], timeout: float) -> None:
        for child in children:
            _signal(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(c.index in self._children for c in children):
            left = deadline - time.monotonic()
            if left <= 0:
                for child in children:
                    if child.index in self._children:
                        logger.warning("%s did not stop in time: killing it", child.name)
                        _signal(child.pid, signal.SIGKILL)
                deadline = time.monotonic() + 5.0
            self._wait(min(max(left, 0.01), 0.5))
            for child, code in self._reap():
                if code not in (0, -signal.SIGTERM):
                    logger.warning("%s exited with status %d", child.name, code)

    def _kill_all(self) -> None:
        for child in self._children.values():
            _signal(child.pid, signal.SIGKILL)


def describe(target: AppTarget, options: ServeOptions) -> tuple[str, str, str, str]:
    """The adapter, the store, TLS and metrics of the start-up line (no password shown)."""
    io = target if isinstance(target, Server) else None
    if io is not None and io.adapter_factory is not MemoryAdapter:
        adapter = "the app's own"
    elif options.redis is not None:
        adapter = f"redis {redact(options.redis)}"
    elif options.workers > 1:
        adapter = "local hub"
    else:
        adapter = "memory"
    if options.store is not None:
        store = redact(options.store)
    elif io is not None:
        durability = io.durability
        store = "none" if durability is None else type(durability.store).__name__
    else:
        store = "the app's"
    tls = "off" if options.certfile is None else f"on ({options.certfile})"
    if io is not None and has_own_metrics(io):
        metrics = "the app's"
    elif options.metrics_port is not None:
        metrics = f"port {options.metrics_port}"
    else:
        metrics = "/metrics" if options.metrics == "on" else "off"
    return adapter, store, tls, metrics


def redact(url: str) -> str:
    """``url`` without the password it may carry."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def _check_extras(options: ServeOptions) -> None:
    """The cluster adapter needs msgpack, and Redis needs redis-py: say so before forking."""
    needed = ["msgpack"] if options.workers > 1 or options.redis else []
    if options.redis:
        needed.append("redis")
    for module in needed:
        try:
            __import__(module)
        except ImportError:
            raise ServeError(
                f"{'--redis' if options.redis else 'several workers'} need(s) {module}: "
                "pip install 'roomcast[redis]'"
            ) from None


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _family(host: str, port: int) -> socket.AddressFamily:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}: {exc}") from exc
    return infos[0][0]


def _check_free(host: str, port: int) -> None:
    """Refuse a port another server listens on (SO_REUSEPORT would share it silently)."""
    with socket.socket(_family(host, port), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ServeError(f"{host}:{port} is already in use") from exc
            raise ServeError(f"cannot listen on {host}:{port}: {exc}") from exc


def _tcp_listener(host: str, port: int, backlog: int, *, reuse_port: bool = False) -> socket.socket:
    sock = socket.socket(_family(host, port), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc}") from exc
    return sock


def _unix_listener(path: str, backlog: int) -> socket.socket:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {path}: {exc}") from exc
    return sock
