"""The ``roomcast`` command.

```
roomcast serve app:io [--workers N] [--host H] [--port P] [--redis URL] [--store URL]
                      [--certfile FILE --keyfile FILE] ...
roomcast schema app:io [--format asyncapi|jsonschema] [--title TITLE]
```

``app:io`` names a module attribute: a ``roomcast.Server``, or a function without arguments
that returns one (called in each worker). See ``roomcast serve --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from .cluster import AppError, ServeError, serve
from .cluster.options import load_target, make_server
from .server import Server

_LOG_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="roomcast", description="roomcast real-time server")
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    run = commands.add_parser(
        "serve",
        help="serve an app with one or several worker processes",
        description=(
            "Serve APP with N worker processes on one port. Broadcasts reach every worker's "
            "clients (through Redis with --redis, else through a local hub), and requests "
            "need no sticky sessions: one that lands on another worker is routed to the "
            "worker that holds its session. With --redis, nodes started separately (on "
            "several machines, behind any load balancer) form one cluster."
        ),
    )
    run.add_argument("app", help="module:attribute, a roomcast.Server or a factory of one")
    run.add_argument("--workers", "-w", type=int, default=1, help="worker processes (1)")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    run.add_argument("--port", "-p", type=int, default=3000, help="port (3000; 0: a free one)")
    run.add_argument("--redis", metavar="URL", help="Redis URL, e.g. redis://127.0.0.1:6379")
    run.add_argument(
        "--redis-key", default="socket.io", help="channel prefix shared by the nodes (socket.io)"
    )
    run.add_argument(
        "--internal-host",
        default="127.0.0.1",
        help="with --redis: address other nodes reach this one on (127.0.0.1)",
    )
    run.add_argument(
        "--store",
        metavar="URL",
        help=(
            "store for connection-state recovery and room history, replacing the app's own:"
            " memory://, sqlite:///path (shared by the workers), redis://host:port/db"
        ),
    )
    run.add_argument("--certfile", metavar="FILE", help="serve TLS: the certificate chain (PEM)")
    run.add_argument("--keyfile", metavar="FILE", help="with --certfile: its private key (PEM)")
    run.add_argument("--runtime-dir", help="directory for the private unix sockets")
    run.add_argument(
        "--shutdown-timeout",
        type=float,
        default=10.0,
        help="seconds a worker has to close its sessions when stopping (10)",
    )
    schema = commands.add_parser(
        "schema",
        help="print the event contract of an app (AsyncAPI 3 or JSON Schema)",
        description=(
            "Print, as JSON, the events APP's namespaces handle: each event's arguments "
            "(from its handler's type annotations), its ack (the return annotation) and "
            "its limits."
        ),
    )
    schema.add_argument("app", help="module:attribute, a roomcast.Server or a factory of one")
    schema.add_argument(
        "--format", choices=["asyncapi", "jsonschema"], default="asyncapi", help="(asyncapi)"
    )
    schema.add_argument("--title", default=None, help="the document's title (the app's name)")
    run.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="logging level (info)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``roomcast`` command with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    args = _parser().parse_args(argv)
    if args.command == "schema":
        return _schema(args.app, args.format, args.title)
    logging.basicConfig(level=args.log_level.upper(), format=_LOG_FORMAT, stream=sys.stderr)
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
            shutdown_timeout=args.shutdown_timeout,
            store=args.store,
            certfile=args.certfile,
            keyfile=args.keyfile,
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
