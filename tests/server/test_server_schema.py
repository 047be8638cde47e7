"""The event contract exported from handlers' annotations (JSON Schema and AsyncAPI 3)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

import roomcast
from roomcast.cli import main
from roomcast.server.schema import asyncapi, json_schema


class Say(BaseModel):
    """A chat line."""

    room: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=500)


class Receipt(BaseModel):
    ok: bool


def build() -> roomcast.Server:
    io = roomcast.Server(max_event_bytes=4096)

    @io.on("say", rate="5/s", burst=5)
    def say(socket: roomcast.Socket, msg: Say) -> Receipt:
        """Say something in a room."""
        return Receipt(ok=True)

    @io.on("tag")
    def tag(socket: roomcast.Socket, name: str, *more: int) -> None: ...

    @io.on("anything")
    def anything(socket, data, extra=None):  # type: ignore[no-untyped-def]
        ...

    io.on("connection", lambda socket: None)  # lifecycle: not an event of the contract
    admin = io.of("/admin")
    admin.limit("100/min", max_depth=4)

    @admin.on("kick")
    def kick(socket: roomcast.Socket, who: str) -> list[str]:
        return [who]

    return io


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_json_schema_describes_each_event_as_its_data_array() -> None:
    schema = json_schema(build(), "chat")
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    events = {
        resolve(schema, c["$ref"])["title"]: resolve(schema, c["$ref"]) for c in schema["oneOf"]
    }
    assert sorted(events) == ["anything", "kick", "say", "tag"]
    say = events["say"]
    assert say["prefixItems"][0] == {"const": "say"}
    assert resolve(schema, say["prefixItems"][1]["$ref"])["properties"]["room"] == {
        "maxLength": 64,
        "minLength": 1,
        "title": "Room",
        "type": "string",
    }
    assert (say["minItems"], say["maxItems"], say["items"]) == (2, 2, False)
    assert say["description"] == "Say something in a room."
    assert say["x-limits"] == {
        "rate": [{"rate": "5/s", "burst": 5, "per": "socket"}],
        "max_bytes": 4096,
    }
    assert resolve(schema, say["x-ack"]["$ref"])["title"] == "Receipt"
    tag = events["tag"]
    assert tag["prefixItems"][1] == {"title": "name", "type": "string"}
    assert tag["items"] == {"title": "more", "type": "integer"}
    assert "maxItems" not in tag
    anything = events["anything"]
    assert anything["prefixItems"][1:] == [{"title": "data"}, {"title": "extra"}]
    assert (anything["minItems"], anything["maxItems"]) == (2, 3)
    kick = events["kick"]
    assert kick["x-namespace"] == "/admin"
    assert kick["x-limits"] == {
        "rate": [{"rate": "100/min", "burst": 100, "per": "socket"}],
        "max_bytes": 4096,
        "max_depth": 4,
    }
    assert kick["x-ack"] == {"items": {"type": "string"}, "type": "array"}


def test_asyncapi_has_a_channel_per_namespace_and_an_operation_per_event() -> None:
    document = asyncapi(build(), "chat")
    assert document["asyncapi"] == "3.0.0"
    assert {k: v["address"] for k, v in document["channels"].items()} == {
        "main": "/",
        "admin": "/admin",
    }
    say = document["operations"]["main.say"]
    assert say["action"] == "receive"
    message = resolve(document, resolve(document, say["messages"][0]["$ref"])["$ref"])
    assert message["name"] == "say"
    assert resolve(document, message["payload"]["prefixItems"][0]["$ref"])["title"] == "Say"
    reply = resolve(document, resolve(document, say["reply"]["messages"][0]["$ref"])["$ref"])
    assert resolve(document, reply["payload"]["$ref"])["properties"] == {
        "ok": {"title": "Ok", "type": "boolean"}
    }
    assert "reply" not in document["operations"]["main.tag"]  # -> None: no ack value
    assert document["operations"]["admin.kick"]["x-limits"]["max_depth"] == 4


def test_the_cli_prints_either_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "schema_app.py").write_text(
        "import roomcast\n"
        "io = roomcast.Server()\n"
        "@io.on('add')\n"
        "def add(socket, a: int, b: int) -> int:\n"
        "    return a + b\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    assert main(["schema", "schema_app:io"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["info"]["title"] == "schema_app:io"
    assert list(document["operations"]) == ["main.add"]
    assert main(["schema", "schema_app:io", "--format", "jsonschema", "--title", "Adder"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Adder"
    assert schema["$defs"]["event:/:add"]["prefixItems"][1:] == [
        {"title": "a", "type": "integer"},
        {"title": "b", "type": "integer"},
    ]
    assert main(["schema", "schema_app:nothing"]) == 2
