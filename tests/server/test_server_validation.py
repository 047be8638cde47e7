"""Handlers' annotations as their events' schema: what is checked, converted and refused."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # typing.TypedDict: pydantic needs Python 3.12

from roomcast import EventRejected, Socket
from roomcast.server.validation import (
    build_validator,
    event_params,
    jsonable,
    needs_dump,
)


class Message(BaseModel):
    room: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=500)


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Move(TypedDict):
    to: Point
    speed: float


def validated(handler: Any, *args: Any) -> list[Any]:
    validator = build_validator(event_params(handler))
    assert validator is not None
    return list(validator.validate(args))


def refusal(handler: Any, *args: Any) -> EventRejected:
    with pytest.raises(EventRejected) as refused:
        validated(handler, *args)
    assert refused.value.code == "validation_failed"
    return refused.value


def say(socket: Socket, msg: Message) -> None: ...


def test_a_model_argument_is_validated_and_converted() -> None:
    (msg,) = validated(say, {"room": "lobby", "text": "hi"})
    assert msg == Message(room="lobby", text="hi")


def test_each_field_problem_is_located() -> None:
    refused = refusal(say, {"room": "", "text": "x" * 501})
    assert [(d["loc"], d["type"]) for d in refused.details] == [
        ([0, "room"], "string_too_short"),
        ([0, "text"], "string_too_long"),
    ]
    assert all(d["param"] == "msg" and d["msg"] for d in refused.details)
    assert refused.message.startswith("argument 0.room: String should have at least 1")


def test_missing_and_extra_arguments() -> None:
    assert [d["type"] for d in refusal(say).details] == ["missing"]
    assert [d["type"] for d in refusal(say, {"room": "a", "text": "b"}, 2).details] == [
        "too_many_arguments"
    ]
    assert [d["loc"] for d in refusal(say, "not an object").details] == [[0]]


def test_several_arguments_defaults_and_variadics() -> None:
    def move(socket: Socket, who: str, where: Move, fast: bool = False, *tags: int) -> None: ...

    where = {"to": {"x": "1", "y": 2}, "speed": 3}
    assert validated(move, "ada", where) == ["ada", {"to": Point(1, 2), "speed": 3.0}]
    assert validated(move, "ada", where, True, 1, "2") == [
        "ada",
        {"to": Point(1, 2), "speed": 3.0},
        True,
        1,
        2,
    ]
    refused = refusal(move, 7, {"to": {"x": 1}}, False, "x")
    assert [d["loc"] for d in refused.details] == [[0], [1, "to", "y"], [1, "speed"], [3]]


def test_annotated_constraints() -> None:
    def pick(socket: Socket, n: Annotated[int, Field(gt=0, le=10)]) -> None: ...

    assert validated(pick, 3) == [3]
    assert refusal(pick, 11).details[0]["type"] == "less_than_equal"


def test_unannotated_and_any_handlers_get_no_validator() -> None:
    def plain(socket, data): ...  # type: ignore[no-untyped-def]

    def anything(socket: Socket, *args: Any) -> Any: ...

    def objects(socket: Socket, data: object) -> None: ...

    for handler in (plain, anything, objects):
        assert build_validator(event_params(handler)) is None


def test_names_local_to_the_registering_function_resolve() -> None:
    class Local(BaseModel):
        n: int

    def handler(socket: Socket, value: Local) -> Local: ...

    assert validated(handler, {"n": "4"}) == [Local(n=4)]


def test_a_keyword_only_parameter_without_default_is_refused_at_registration() -> None:
    def handler(socket: Socket, *, secret: str) -> None: ...

    with pytest.raises(TypeError, match="keyword-only"):
        event_params(handler)


def test_results_made_json_ready() -> None:
    assert needs_dump(Message)
    assert needs_dump(list[Point])
    assert needs_dump(Annotated[Message, "x"])
    assert not needs_dump(dict[str, int])
    assert jsonable(Message(room="a", text="b")) == {"room": "a", "text": "b"}
    assert jsonable((Point(1, 2), "x")) == ({"x": 1, "y": 2}, "x")
    assert jsonable(b"bytes stay") == b"bytes stay"
