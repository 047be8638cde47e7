"""An app's event contract, from its handlers' annotations: JSON Schema and AsyncAPI 3.

Each event a namespace handles is described by the array its client sends after the event
name (``socket.emit("say", {...})`` sends ``["say", {...}]``): ``prefixItems`` one schema
per argument (``{}`` for an unannotated one), ``minItems`` the required ones, ``items``
false unless the handler takes ``*args``. The ack is the handler's return annotation, and
its limits go in ``x-limits``. ``roomcast schema app:io`` prints either document.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .guard import Bounds, HandlerSpec
from .validation import Param

if TYPE_CHECKING:
    from .namespace import Namespace
    from .server import Server

Format = Literal["asyncapi", "jsonschema"]
_EMPTY = inspect.Parameter.empty
_NO_ACK = (_EMPTY, Any, None, type(None))


@dataclass(frozen=True, slots=True)
class EventEntry:
    """One event of one namespace, as its first handler declares it."""

    namespace: str
    event: str
    spec: HandlerSpec
    scope: Bounds

    @property
    def key(self) -> str:
        label = self.namespace.strip("/").replace("/", ".") or "main"
        return f"{label}.{self.event}"


def events_of(io: Server) -> Iterator[EventEntry]:
    """Every event of every namespace (a dynamic one as its pattern), in order."""
    for nsp in io.namespaces():
        if nsp.parent is not None:
            continue  # its parent describes it
        for event, specs in nsp.specs().items():
            if specs:
                yield EventEntry(nsp.name, event, specs[0], _scope(nsp, io))


def _scope(nsp: Namespace, io: Server) -> Bounds:
    own, server = nsp.limits, io.guard.bounds
    return Bounds(
        own.limiters + server.limiters,
        own.max_bytes if own.max_bytes is not None else server.max_bytes,
        own.max_depth if own.max_depth is not None else server.max_depth,
    )


def _annotation_schemas(
    entries: list[EventEntry], ref_template: str
) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    """The schemas of every checked argument and every ack, with the models they share."""
    from pydantic import TypeAdapter

    inputs: list[tuple[str, Literal["validation", "serialization"], Any]] = []
    for entry in entries:
        for index, param in enumerate(entry.spec.params):
            if param.checked:
                inputs.append((f"{entry.key}:{index}", "validation", TypeAdapter(param.annotation)))
        if entry.spec.returns not in _NO_ACK:
            inputs.append((f"{entry.key}:ack", "serialization", TypeAdapter(entry.spec.returns)))
    if not inputs:
        return {}, {}
    found, defs = TypeAdapter.json_schemas(inputs, ref_template=ref_template)
    schemas: dict[tuple[str, str], Any] = {
        (key, mode): value for (key, mode), value in found.items()
    }
    return schemas, dict(defs.get("$defs", {}))


def _arguments(entry: EventEntry, schemas: dict[tuple[str, str], Any]) -> dict[str, Any]:
    """The array schema of the event's arguments (without its name)."""
    items: list[Any] = []
    rest: Any = False
    required = 0
    for index, param in enumerate(entry.spec.params):
        schema = schemas.get((f"{entry.key}:{index}", "validation"), {})
        schema = {"title": param.name, **schema} if "$ref" not in schema else schema
        if param.variadic:
            rest = schema
        else:
            items.append(schema)
            required += 1 if param.required else 0
    out: dict[str, Any] = {"type": "array", "prefixItems": items, "minItems": required}
    if rest is False:
        out["maxItems"] = len(items)
    out["items"] = rest
    return out


def _limits(entry: EventEntry) -> dict[str, Any]:
    bounds, scope = entry.spec.bounds, entry.scope
    rates = [limiter.limit.describe() for limiter in bounds.limiters + scope.limiters]
    limits: dict[str, Any] = {}
    if rates:
        limits["rate"] = rates
    max_bytes = bounds.max_bytes if bounds.max_bytes is not None else scope.max_bytes
    max_depth = bounds.max_depth if bounds.max_depth is not None else scope.max_depth
    if max_bytes is not None:
        limits["max_bytes"] = max_bytes
    if max_depth is not None:
        limits["max_depth"] = max_depth
    return limits


def _description(entry: EventEntry) -> str:
    doc = inspect.getdoc(entry.spec.handler)
    return doc.split("\n\n")[0] if doc else ""


def json_schema(io: Server, title: str = "roomcast events") -> dict[str, Any]:
    """A JSON Schema (2020-12) of what clients may send: the root accepts the data of any
    event of any namespace (``["say", {...}]``), ``$defs`` has one schema per event
    (``event:<namespace>:<event>``, with ``x-namespace``, ``x-ack``, ``x-limits``) and the
    models they use."""
    entries = list(events_of(io))
    schemas, defs = _annotation_schemas(entries, "#/$defs/{model}")
    choices: list[dict[str, str]] = []
    for entry in entries:
        arguments = _arguments(entry, schemas)
        event: dict[str, Any] = {
            "title": entry.event,
            "x-namespace": entry.namespace,
            "type": "array",
            "prefixItems": [{"const": entry.event}, *arguments["prefixItems"]],
            "minItems": arguments["minItems"] + 1,
            "items": arguments["items"],
        }
        if "maxItems" in arguments:
            event["maxItems"] = arguments["maxItems"] + 1
        if description := _description(entry):
            event["description"] = description
        if (ack := schemas.get((f"{entry.key}:ack", "serialization"))) is not None:
            event["x-ack"] = ack
        if limits := _limits(entry):
            event["x-limits"] = limits
        name = f"event:{entry.namespace}:{entry.event}".replace("~", "~0").replace("/", "~1")
        defs[f"event:{entry.namespace}:{entry.event}"] = event
        choices.append({"$ref": f"#/$defs/{name}"})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "description": "The data of each event a client may send: [name, ...arguments].",
        "oneOf": choices,
        "$defs": defs,
    }


def asyncapi(io: Server, title: str = "roomcast events", version: str = "1.0.0") -> dict[str, Any]:
    """An AsyncAPI 3.0 document: one channel per namespace (its address the namespace),
    one ``receive`` operation per event whose message payload is the argument array, with
    the ack as the operation's ``reply`` and the limits as ``x-limits``."""
    entries = list(events_of(io))
    schemas, defs = _annotation_schemas(entries, "#/components/schemas/{model}")
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for entry in entries:
        channel_id = _channel_id(entry.namespace)
        channel = channels.setdefault(
            channel_id,
            {
                "address": entry.namespace,
                "title": f"namespace {entry.namespace}",
                "messages": {},
            },
        )
        message: dict[str, Any] = {"name": entry.event, "payload": _arguments(entry, schemas)}
        if description := _description(entry):
            message["summary"] = description
        messages[entry.key] = message
        channel["messages"][entry.event] = {"$ref": f"#/components/messages/{entry.key}"}
        operation: dict[str, Any] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{entry.event}"}],
        }
        if (ack := schemas.get((f"{entry.key}:ack", "serialization"))) is not None:
            ack_name = f"{entry.event}.ack"
            messages[f"{entry.key}.ack"] = {"name": ack_name, "payload": ack}
            channel["messages"][ack_name] = {"$ref": f"#/components/messages/{entry.key}.ack"}
            operation["reply"] = {
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "messages": [{"$ref": f"#/channels/{channel_id}/messages/{ack_name}"}],
            }
        if limits := _limits(entry):
            operation["x-limits"] = limits
        operations[entry.key] = operation
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Socket.IO events: each message's payload is the array of the event's "
                "arguments; an ack is the operation's reply. A refused event is acked "
                '{"_rc_error": {"code", "message", "details"}}.'
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": defs},
    }


def _channel_id(namespace: str) -> str:
    return namespace.strip("/").replace("/", ".") or "main"


def contract(io: Server, fmt: Format = "asyncapi", title: str = "roomcast events") -> Any:
    """The event contract of ``io`` in ``fmt``."""
    if fmt == "jsonschema":
        return json_schema(io, title)
    return asyncapi(io, title)


__all__ = ["EventEntry", "Format", "Param", "asyncapi", "contract", "events_of", "json_schema"]
