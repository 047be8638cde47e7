"""A handler's type annotations as the schema of its event (pydantic v2, FastAPI-style).

``def say(socket, msg: ChatMessage)`` validates and converts the event's first argument
into a ``ChatMessage`` (a pydantic model, a dataclass, a ``TypedDict``, ``str``,
``Annotated[int, Field(gt=0)]``: anything pydantic's ``TypeAdapter`` takes) before the
handler runs. The validator is built once, when the handler is registered; a handler
without annotations (or annotated ``Any``) gets none and costs nothing more per call.
pydantic is imported only when a handler needs it.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from ..exceptions import EventRejected
from ..rejections import Code

_EMPTY = inspect.Parameter.empty


@dataclass(frozen=True, slots=True)
class Param:
    """One event argument a handler takes (its socket parameter left out)."""

    name: str
    annotation: Any
    """The resolved annotation; ``inspect.Parameter.empty`` when there is none."""
    required: bool
    variadic: bool = False

    @property
    def checked(self) -> bool:
        return (
            self.annotation is not _EMPTY
            and self.annotation is not Any
            and (self.annotation is not object)
        )


def event_params(handler: Callable[..., Any], frame_depth: int = 2) -> tuple[Param, ...]:
    """The event arguments ``handler(socket, ...)`` takes, annotations resolved (names
    defined in the functions that registered it too: up to ``frame_depth`` + 4 frames up).

    Raises:
        TypeError: a parameter no event argument can fill (keyword-only, no default), or an
            annotation that cannot be resolved.
    """
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return ()
    params = list(signature.parameters.values())
    if not params or params[0].kind is inspect.Parameter.VAR_POSITIONAL:
        return ()
    hints = _hints(handler, frame_depth + 1)
    found: list[Param] = []
    for param in params[1:]:
        annotation = hints.get(param.name, _EMPTY)
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            found.append(Param(param.name, annotation, False, variadic=True))
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        elif param.kind is inspect.Parameter.KEYWORD_ONLY:
            if param.default is _EMPTY:
                raise TypeError(
                    f"{_name(handler)}: keyword-only parameter {param.name!r} gets no event "
                    "argument; give it a default or make it positional"
                )
        else:
            found.append(Param(param.name, annotation, param.default is _EMPTY))
    return tuple(found)


def fixed_arity(handler: Callable[..., Any], params: Sequence[Param]) -> int | None:
    """How many event arguments ``handler`` takes when it is one number (every parameter
    required, no ``*args``); None otherwise, or when its signature cannot be read."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):
        return None
    first = next(iter(signature.parameters.values()), None)
    if first is None or first.kind is inspect.Parameter.VAR_POSITIONAL:
        return None
    if any(p.variadic or not p.required for p in params):
        return None
    return len(params)


def return_annotation(handler: Callable[..., Any], frame_depth: int = 2) -> Any:
    """The resolved return annotation of ``handler`` (``_EMPTY`` when none)."""
    return _hints(handler, frame_depth + 1).get("return", _EMPTY)


def _hints(handler: Callable[..., Any], frame_depth: int) -> dict[str, Any]:
    target = handler if inspect.isfunction(handler) or inspect.ismethod(handler) else None
    if target is None:
        call = getattr(handler, "__call__", None)  # noqa: B004 - a callable object's method
        if call is None or not inspect.ismethod(call):
            return {}
        target = call
    try:
        return typing.get_type_hints(target, include_extras=True)
    except NameError as first:
        # names local to the function that defined the handler (a model in a test, a
        # factory): try the frames that registered it, innermost first
        frame: FrameType | None = sys._getframe(frame_depth)
        for _ in range(6):
            if frame is None:
                break
            try:
                return typing.get_type_hints(target, localns=frame.f_locals, include_extras=True)
            except NameError:
                frame = frame.f_back
        raise TypeError(f"{_name(handler)}: cannot resolve its annotations: {first}") from first


def _name(handler: Callable[..., Any]) -> str:
    return getattr(handler, "__qualname__", repr(handler))


class ArgsValidator:
    """Validates an event's argument list against a handler's ``Param``s.

    ``validate(args)`` returns the converted arguments or raises ``EventRejected``
    (``validation_failed``, ``details``: one ``{"loc", "msg", "type", "param"}`` per
    problem, ``loc`` starting with the argument's index).
    """

    __slots__ = ("_adapters", "_count", "_error", "_required", "_rest", "_single", "params")

    def __init__(self, params: Sequence[Param]) -> None:
        from pydantic import TypeAdapter, ValidationError

        self._error = ValidationError
        self.params = tuple(params)
        positional = [p for p in self.params if not p.variadic]
        rest = [p for p in self.params if p.variadic]
        self._count = len(positional)
        self._required = sum(1 for p in positional if p.required)
        self._adapters: tuple[tuple[int, Param, Any], ...] = tuple(
            (i, p, TypeAdapter(p.annotation)) for i, p in enumerate(positional) if p.checked
        )
        self._rest: tuple[Param, Any] | None = None
        if rest:
            param = rest[0]
            self._rest = (param, TypeAdapter(param.annotation) if param.checked else None)
        # the common case: one argument, checked, nothing else
        self._single = (
            self._adapters[0][2].validate_python
            if self._count == 1 and self._required == 1 and self._rest is None and self._adapters
            else None
        )

    def validate(self, args: Sequence[Any]) -> Sequence[Any]:
        single = self._single
        if single is not None and len(args) == 1:
            try:
                return (single(args[0]),)
            except self._error as exc:
                raise _rejected(_details(exc, 0, self.params[0].name)) from None
        return self._validate_all(args)

    def one(self) -> Callable[[Any], Any] | None:
        """For a handler of exactly one checked argument: a function that validates it
        (raising ``EventRejected``); None for any other handler."""
        single, error = self._single, self._error
        if single is None:
            return None
        name = self.params[0].name

        def validate_one(value: Any) -> Any:
            try:
                return single(value)
            except error as exc:
                raise _rejected(_details(exc, 0, name)) from None

        return validate_one

    def _validate_all(self, args: Sequence[Any]) -> Sequence[Any]:
        ValidationError = self._error

        errors: list[dict[str, Any]] = []
        count = len(args)
        if count < self._required:
            for index in range(count, self._required):
                errors.append(_problem(index, self.params[index].name, "missing", "required"))
        elif count > self._count and self._rest is None:
            errors.append(
                _problem(self._count, "", "too_many_arguments", f"at most {self._count} expected")
            )
        out = list(args)
        for index, param, adapter in self._adapters:
            if index < count:
                try:
                    out[index] = adapter.validate_python(args[index])
                except ValidationError as exc:
                    errors.extend(_details(exc, index, param.name))
        if self._rest is not None and self._rest[1] is not None:
            param, adapter = self._rest
            for index in range(self._count, count):
                try:
                    out[index] = adapter.validate_python(args[index])
                except ValidationError as exc:
                    errors.extend(_details(exc, index, param.name))
        if errors:
            raise _rejected(errors)
        return out


def _problem(index: int, param: str, kind: str, msg: str) -> dict[str, Any]:
    return {"loc": [index], "msg": msg, "type": kind, "param": param}


def _details(exc: Any, index: int, param: str) -> list[dict[str, Any]]:
    return [
        {"loc": [index, *error["loc"]], "msg": error["msg"], "type": error["type"], "param": param}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _rejected(details: list[dict[str, Any]]) -> EventRejected:
    first = details[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return EventRejected(Code.VALIDATION_FAILED, f"argument {where}: {first['msg']}{more}", details)


def build_validator(params: Sequence[Param]) -> ArgsValidator | None:
    """A validator for ``params``, or None when none of them is annotated."""
    if not any(p.checked for p in params):
        return None
    return ArgsValidator(params)


def needs_dump(annotation: Any) -> bool:
    """Whether a handler returning ``annotation`` returns models to turn into JSON."""
    if annotation is _EMPTY:
        return False
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return needs_dump(typing.get_args(annotation)[0])
    if inspect.isclass(annotation):
        return dataclasses.is_dataclass(annotation) or _is_model(annotation)
    return origin is not None and any(needs_dump(arg) for arg in typing.get_args(annotation))


def _is_model(cls: type) -> bool:
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(cls, pydantic.BaseModel)


def jsonable(result: Any) -> Any:
    """A handler's result with pydantic models and dataclasses made JSON-ready (the ack);
    a tuple (several ack arguments) element by element; anything else as it is."""
    kind = type(result)
    serializer = getattr(kind, "__pydantic_serializer__", None)
    if serializer is not None and not isinstance(result, type):  # a model: the core, directly
        return serializer.to_python(result, mode="json")
    if kind is tuple:
        return tuple(jsonable(item) for item in result)
    if _is_model(kind) or (dataclasses.is_dataclass(result) and not isinstance(result, type)):
        from pydantic_core import to_jsonable_python

        return to_jsonable_python(result)
    return result
