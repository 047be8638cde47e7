"""The public surface: what ``__all__`` promises exists, is documented and stays sorted.

A docstring counts only when the object's own source has one: Enum classes inherit
``__doc__`` and ``@dataclass`` writes the signature into ``__doc__``, so ``__doc__`` alone
would pass undocumented classes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from dataclasses import dataclass
from enum import IntEnum
from types import ModuleType

import pytest

PUBLIC_MODULES = ("roomcast", "roomcast.engineio", "roomcast.socketio")


def exported(module_name: str) -> list[str]:
    names = importlib.import_module(module_name).__all__
    assert isinstance(names, list | tuple)
    return list(names)


EXPORTS = [
    pytest.param(module_name, name, id=f"{module_name}.{name}")
    for module_name in PUBLIC_MODULES
    for name in exported(module_name)
]


def own_docstring(obj: object) -> str | None:
    """The docstring written in the source of a class or function, if any."""
    source = textwrap.dedent(inspect.getsource(obj))  # type: ignore[arg-type]
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
    return ast.get_docstring(node)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_sorted(module_name: str) -> None:
    names = exported(module_name)
    assert names == sorted(names)


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_has_no_duplicates(module_name: str) -> None:
    names = exported(module_name)
    assert len(names) == len(set(names))


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_module_is_documented(module_name: str) -> None:
    module: ModuleType = importlib.import_module(module_name)
    assert inspect.getdoc(module)


@pytest.mark.parametrize(("module_name", "name"), EXPORTS)
def test_name_exists(module_name: str, name: str) -> None:
    assert hasattr(importlib.import_module(module_name), name)


@pytest.mark.parametrize(("module_name", "name"), EXPORTS)
def test_name_is_documented(module_name: str, name: str) -> None:
    obj = getattr(importlib.import_module(module_name), name)
    assert inspect.isclass(obj) or inspect.isroutine(obj), (
        f"{name} is neither a class nor a function: export it with a documented wrapper"
    )
    assert own_docstring(obj), f"{module_name}.{name} has no docstring"


@dataclass(frozen=True)
class _UndocumentedDataclass:
    value: int


class _UndocumentedEnum(IntEnum):
    A = 1


class _Documented:
    """Documented."""


@pytest.mark.parametrize("obj", [_UndocumentedDataclass, _UndocumentedEnum])
def test_generated_docstrings_do_not_count(obj: type) -> None:
    assert inspect.getdoc(obj)  # written by @dataclass, or inherited from IntEnum
    assert own_docstring(obj) is None


def test_own_docstrings_count() -> None:
    assert own_docstring(_Documented) == "Documented."
    assert own_docstring(exported) is None
    assert own_docstring(own_docstring)
