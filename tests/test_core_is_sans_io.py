"""The protocol core (roomcast.engineio, roomcast.socketio) does no I/O and keeps no clock.

Every module is read with ``ast`` rather than imported, so the check also sees imports
inside functions and under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
CORE_PACKAGES = ("roomcast.engineio", "roomcast.socketio")
BANNED = frozenset({"asyncio", "socket", "time", "aiohttp", "selectors", "threading"})
ALLOWED_ROOMCAST = ("roomcast.exceptions", *CORE_PACKAGES)
CORE_FILES = sorted(
    path for package in CORE_PACKAGES for path in (SRC / package.replace(".", "/")).rglob("*.py")
)


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """Every module ``source`` imports, as absolute dotted names, with line numbers.

    ``package`` is the package the source lives in, to resolve relative imports.
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            assert node.module is not None
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1])
            if node.module is not None:
                found.append((node.lineno, f"{base}.{node.module}"))
            else:  # "from .. import exceptions": each name may be a module
                found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def imports_of(path: Path) -> list[tuple[int, str]]:
    package = ".".join(path.relative_to(SRC).parent.parts)
    return imports_in(path.read_text(encoding="utf-8"), package)


def is_banned(module: str) -> bool:
    return module.split(".")[0] in BANNED


def is_allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top == "roomcast":
        return any(module == ok or module.startswith(ok + ".") for ok in ALLOWED_ROOMCAST)
    return top in sys.stdlib_module_names and not is_banned(module)


def test_core_files_are_found() -> None:
    assert {
        "roomcast.engineio",
        "roomcast.engineio.packets",
        "roomcast.engineio.session",
        "roomcast.socketio",
        "roomcast.socketio.packets",
    } <= {module_name(path) for path in CORE_FILES}


@pytest.mark.parametrize("path", CORE_FILES, ids=module_name)
def test_no_io_imports(path: Path) -> None:
    banned = [f"line {line}: {module}" for line, module in imports_of(path) if is_banned(module)]
    assert banned == []


@pytest.mark.parametrize("path", CORE_FILES, ids=module_name)
def test_only_stdlib_and_core_imports(path: Path) -> None:
    others = [
        f"line {line}: {module}" for line, module in imports_of(path) if not is_allowed(module)
    ]
    assert others == []


@pytest.mark.parametrize("path", CORE_FILES, ids=module_name)
def test_no_dynamic_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    dynamic = [
        f"line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "__import__")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
        )
    ]
    assert dynamic == []


# -- the checker itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ("import asyncio", False),
        ("import asyncio.tasks", False),
        ("from asyncio import sleep", False),
        ("from time import monotonic", False),
        ("import socket, json", False),
        ("import selectors", False),
        ("import aiohttp.web", False),
        ("import threading as t", False),
        ("def f():\n    import time", False),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import asyncio", False),
        ("import msgpack", False),
        ("from ..transports import engine", False),
        ("from ..server.server import Server", False),
        ("from .. import typing", False),
        ("import roomcast", False),
        ("import json", True),
        ("from collections.abc import Iterable", True),
        ("from __future__ import annotations", True),
        ("from ..exceptions import RemoteProtocolError", True),
        ("from .. import exceptions", True),
        ("from .packets import Packet", True),
        ("from . import packets", True),
        ("from ..socketio.packets import Decoder", True),
        ("import roomcast.engineio.packets", True),
    ],
)
def test_checker(source: str, allowed: bool) -> None:
    modules = [module for _, module in imports_in(source, "roomcast.engineio")]
    assert modules
    assert all(is_allowed(module) for module in modules) is allowed


def test_relative_imports_resolve() -> None:
    source = "from ..exceptions import E\nfrom .packets import P\nfrom . import events"
    assert imports_in(source, "roomcast.engineio") == [
        (1, "roomcast.exceptions"),
        (2, "roomcast.engineio.packets"),
        (3, "roomcast.engineio.events"),
    ]
