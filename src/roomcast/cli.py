"""The ``roomcast`` command.

```
roomcast serve TARGET [--workers N] [--host H] [--port P] [--redis URL] [--store URL]
                      [--certfile FILE --keyfile FILE] [--log-level L] [--log-format F]
                      [--reload] ...
roomcast schema TARGET [--format asyncapi|jsonschema] [--title TITLE]
roomcast chat [--port P] [--data DIR] [--notify-token TOKEN] [--workers N] [--redis URL]
roomcast --version
```

``TARGET`` is ``module:attribute`` or ``path/to/file.py:attribute``: a ``roomcast.Server``,
or a function without arguments that returns one (called in each worker). Every option of
``serve`` can also come from an environment variable (``ROOMCAST_PORT``...; see
``roomcast serve --help``); the command line wins.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from .apps.chat import command as chat_command
from .cluster import AppError, ServeError, serve
from .cluster.options import load_target, make_server
from .cluster.reload import RELOAD_ENV, Reloader, watched_folders
from .observe.logs import configure
from .server import Server

LOG_LEVELS = ("debug", "info", "warning", "error")
ACCESS_LOG_ENV = "ROOMCAST_ACCESS_LOG"
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True, slots=True)
class _Option:
    flags: tuple[str, ...]
    env: tuple[str, ...]
    help: str
    default: str | None = None
    type: Callable[[str], Any] = str
    metavar: str | None = None
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.flags[0].lstrip("-").replace("-", "_")


SERVE_OPTIONS = (
    _Option(("--host",), ("ROOMCAST_HOST",), "address to listen on", "127.0.0.1"),
    _Option(("--port", "-p"), ("ROOMCAST_PORT", "PORT"), "port (0: a free one)", "3000", type=int),
    _Option(("--workers", "-w"), ("ROOMCAST_WORKERS",), "worker processes", "1", type=int),
    _Option(
        ("--redis",),
        ("ROOMCAST_REDIS",),
        "Redis URL, e.g. redis://127.0.0.1:6379",
        None,
        metavar="URL",
    ),
    _Option(
        ("--redis-key",),
        ("ROOMCAST_REDIS_KEY",),
        "channel prefix shared by the nodes",
        "socket.io",
    ),
    _Option(
        ("--internal-host",),
        ("ROOMCAST_INTERNAL_HOST",),
        "with --redis: address other nodes reach this one on",
        "127.0.0.1",
    ),
    _Option(
        ("--store",),
        ("ROOMCAST_STORE",),
        "store for connection-state recovery and room history, replacing the app's own: "
        "memory://, sqlite:///path (shared by the workers), redis://host:port/db",
        metavar="URL",
    ),
    _Option(
        ("--certfile",),
        ("ROOMCAST_CERTFILE",),
        "serve TLS: the certificate chain (PEM)",
        metavar="FILE",
    ),
    _Option(
        ("--keyfile",),
        ("ROOMCAST_KEYFILE",),
        "with --certfile: its private key (PEM)",
        metavar="FILE",
    ),
    _Option(
        ("--runtime-dir",),
        ("ROOMCAST_RUNTIME_DIR",),
        "directory for the private unix sockets",
        metavar="DIR",
    ),
    _Option(
        ("--graceful-timeout", "--shutdown-timeout"),
        ("ROOMCAST_GRACEFUL_TIMEOUT", "ROOMCAST_SHUTDOWN_TIMEOUT"),
        "seconds a worker has to stop (drain included) before it is killed",
        "10",
        type=float,
        metavar="SECONDS",
    ),
    _Option(
        ("--drain-seconds",),
        ("ROOMCAST_DRAIN_SECONDS",),
        "on SIGTERM, disconnect the clients spread over this many seconds so that they "
        "reconnect elsewhere gradually (0: at once)",
        "0",
        type=float,
        metavar="SECONDS",
    ),
    _Option(
        ("--header-timeout",),
        ("ROOMCAST_HEADER_TIMEOUT",),
        "seconds a client has to send a request whole (head and body), else 408 and close "
        "(0: no limit)",
        "10",
        type=float,
        metavar="SECONDS",
    ),
    _Option(
        ("--keep-alive-timeout",),
        ("ROOMCAST_KEEP_ALIVE_TIMEOUT",),
        "seconds an idle keep-alive HTTP connection is kept (0: no limit)",
        "75",
        type=float,
        metavar="SECONDS",
    ),
    _Option(
        ("--metrics",),
        ("ROOMCAST_METRICS",),
        "Prometheus metrics, unless the app has its own: off, on (GET /metrics on the "
        "public port) or a port of their own; one scrape sums every worker's figures",
        "off",
        metavar="off|on|PORT",
    ),
    _Option(("--log-level",), ("ROOMCAST_LOG_LEVEL",), "logging level", "info", choices=LOG_LEVELS),
    _Option(
        ("--log-format",),
        ("ROOMCAST_LOG_FORMAT",),
        "text lines, or one JSON object per line (time, level, logger, message, sid, namespace)",
        "text",
        choices=LOG_FORMATS,
    ),
)


def _from_env(option: _Option, env: Mapping[str, str]) -> str | None:
    for name in option.env:
        value = env.get(name)
        if value:
            return value
    return option.default


def _env_help(option: _Option) -> str:
    where = ", ".join(f"${name}" for name in option.env)
    default = "" if option.default is None else f"; default {option.default}"
    return f"{option.help} [{where}{default}]"


def package_version() -> str:
    try:
        return version("roomcast")
    except PackageNotFoundError:
        return "unknown"


def _parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roomcast", description="roomcast real-time server")
    parser.add_argument("--version", action="version", version=f"roomcast {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    run = commands.add_parser(
        "serve",
        help="serve an app with one or several worker processes",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Serve TARGET with N worker processes on one port. Broadcasts reach every\n"
            "worker's clients (through Redis with --redis, else through a local hub), and\n"
            "requests need no sticky sessions: one that lands on another worker is routed\n"
            "to the worker that holds its session. With --redis, nodes started separately\n"
            "(on several machines, behind any load balancer) form one cluster.\n\n"
            "Every option can also be set with the environment variable shown in brackets\n"
            "(the command line wins; PORT is read when ROOMCAST_PORT is not set)."
        ),
        epilog=(
            "environment variables:\n"
            + "\n".join(f"  {', '.join(o.env):<33} {o.flags[0]}" for o in SERVE_OPTIONS)
            + f"\n  {'ROOMCAST_RELOAD':<33} --reload (1, true, yes, on)"
            + f"\n  {ACCESS_LOG_ENV:<33} --access-log (1, true, yes, on)"
            + f"\n  {'ROOMCAST_APP':<33} TARGET\n\n"
            "health: GET /healthz (alive) and /readyz (accepting, adapter and store\n"
            "reachable; 503 otherwise and while stopping).\n"
            "signals: SIGTERM/SIGINT drain and stop; SIGHUP restarts the workers one at a time."
        ),
    )
    run.add_argument(
        "--reload",
        action="store_true",
        default=env.get(RELOAD_ENV, "").lower() in ("1", "true", "yes", "on"),
        help="development: serve in a child process and start it again when a *.py file "
        "under the app's folder (or the working directory) changes [$ROOMCAST_RELOAD=1]",
    )
    run.add_argument(
        "--access-log",
        action="store_true",
        default=env.get(ACCESS_LOG_ENV, "").lower() in ("1", "true", "yes", "on"),
        help="log each HTTP request's answer (logger roomcast.access: client, method, URL, "
        "status, bytes; WebSocket upgrades as 101) [$ROOMCAST_ACCESS_LOG=1]",
    )
    run.add_argument(
        "app",
        metavar="TARGET",
        nargs="?" if env.get("ROOMCAST_APP") else None,
        default=env.get("ROOMCAST_APP"),
        help="module:attribute or path/to/file.py:attribute, a roomcast.Server or a "
        "factory of one [$ROOMCAST_APP]",
    )
    for option in SERVE_OPTIONS:
        run.add_argument(
            *option.flags,
            dest=option.dest,
            default=_from_env(option, env),  # a string default goes through type too
            type=option.type,
            metavar=option.metavar,
            help=_env_help(option) + (f" ({'|'.join(option.choices)})" if option.choices else ""),
        )
    schema = commands.add_parser(
        "schema",
        help="print the event contract of an app (AsyncAPI 3 or JSON Schema)",
        description=(
            "Print, as JSON, the events TARGET's namespaces handle: each event's arguments "
            "(from its handler's type annotations), its ack (the return annotation) and "
            "its limits."
        ),
    )
    schema.add_argument(
        "app", metavar="TARGET", help="module:attribute or path/to/file.py:attribute"
    )
    schema.add_argument(
        "--format", choices=["asyncapi", "jsonschema"], default="asyncapi", help="(asyncapi)"
    )
    schema.add_argument("--title", default=None, help="the document's title (the app's name)")
    chat_command.add_parser(commands, env)
    return parser


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Run the ``roomcast`` command with ``argv`` (default: ``sys.argv[1:]``) and the
    environment ``env`` (default: ``os.environ``); the exit status."""
    env = os.environ if env is None else env
    parser = _parser(env)
    args = parser.parse_args(argv)
    if args.command == "schema":
        return _schema(args.app, args.format, args.title)
    if args.command == "chat":
        configure(args.log_level, args.log_format)
        return chat_command.run(args)
    for option in SERVE_OPTIONS:
        value = getattr(args, option.dest)
        if option.choices is not None and value not in option.choices:
            parser.error(f"{option.flags[0]}: {value!r} is not one of {', '.join(option.choices)}")
    configure(args.log_level, args.log_format)
    if args.reload:
        given = list(sys.argv[1:] if argv is None else argv)
        given.remove("serve")
        child_args = [a for a in given if a != "--reload"]
        if args.app not in child_args:  # it came from $ROOMCAST_APP
            child_args.append(args.app)
        return Reloader(child_args, watched_folders(args.app, Path.cwd())).run()
    try:
        serve(
            args.app,
            workers=args.workers,
            host=args.host,
            port=args.port,
            redis=args.redis,
            redis_key=args.redis_key,
            internal_host=args.internal_host,
            runtime_dir=args.runtime_dir,
            shutdown_timeout=args.graceful_timeout,
            drain_seconds=args.drain_seconds,
            store=args.store,
            certfile=args.certfile,
            keyfile=args.keyfile,
            header_timeout=args.header_timeout or None,
            keep_alive_timeout=args.keep_alive_timeout or None,
            metrics=args.metrics,
            access_log=args.access_log,
        )
    except (AppError, ValueError) as exc:
        print(f"roomcast: error: {exc}", file=sys.stderr)
        return 2
    except ServeError as exc:
        print(f"roomcast: {exc}", file=sys.stderr)
        return 1
    return 0


def _schema(app: str, fmt: str, title: str | None) -> int:
    from .server.schema import asyncapi, json_schema

    try:
        io = make_server(load_target(app))
    except AppError as exc:
        print(f"roomcast: error: {exc}", file=sys.stderr)
        return 2
    if not isinstance(io, Server):
        print(f"roomcast: error: {app} is not a Socket.IO server", file=sys.stderr)
        return 2
    name = title or app
    document = json_schema(io, name) if fmt == "jsonschema" else asyncapi(io, name)
    print(json.dumps(document, indent=2))
    return 0
