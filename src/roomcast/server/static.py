"""Serving the official browser client (``/socket.io/socket.io.js``) from npm's package.

The bundle comes from npm's ``socket.io-client`` package, never committed to roomcast. It is
looked for in ``$ROOMCAST_CLIENT_DIR``, then in ``node_modules/socket.io-client/dist`` under
the working directory or any parent of it (a project's own npm install), then in the
installed package's ``_bundle`` folder: a wheel carries the one of package-lock.json,
copied from npm at build time (setup.py), so a Python user needs no node.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Final

from ..transports.http import HandshakeRequest, HttpResponse
from ..transports.routes import GetRoute

logger = logging.getLogger("roomcast.static")

FILES: Final = (
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
)
PACKAGED: Final = Path(__file__).resolve().parent.parent / "_bundle"
"""Where a wheel of roomcast carries the bundle."""
MISSING: Final = (
    "The Socket.IO browser client is not installed. Run `npm install socket.io-client` in the "
    "project folder (or set ROOMCAST_CLIENT_DIR to the folder holding socket.io.js)."
)


def find_client_dir() -> Path | None:
    return find_npm_folder("socket.io-client/dist", "socket.io.js", "ROOMCAST_CLIENT_DIR", PACKAGED)


def find_npm_folder(
    folder: str, marker: str, variable: str, packaged: Path | None = None
) -> Path | None:
    """Where npm put ``folder`` of a package (``socket.io-client/dist``): ``$variable``, then
    ``node_modules/<folder>`` holding ``marker`` under the working directory or a parent of
    it, then ``packaged`` (what a wheel carries), then a source checkout's node_modules."""
    configured = os.environ.get(variable)
    if configured:
        return Path(configured)
    for parent in (Path.cwd(), *Path.cwd().parents):
        candidate = parent / "node_modules" / folder
        if (candidate / marker).is_file():
            return candidate
    if packaged is not None and (packaged / marker).is_file():
        return packaged
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "node_modules" / folder
        if (candidate / marker).is_file():
            return candidate
    return None


class ClientBundle(GetRoute):
    """The route of ``<path>socket.io.js`` and the other bundle files: GET with ETag caching."""

    max_message_size = 0  # no request bodies

    def __init__(self, path: str, folder: Path | None = None) -> None:
        super().__init__()
        self._prefix = path
        self._folder = folder if folder is not None else find_client_dir()
        self._cache: dict[str, tuple[bytes, str]] = {}
        self._warned = False

    def exact_paths(self) -> tuple[str, ...]:
        return tuple(self._prefix + name for name in FILES)

    def get(self, request: HandshakeRequest) -> HttpResponse:
        """The file a GET asks for."""
        name = request.path[len(self._prefix) :]
        loaded = self._load(name)
        if loaded is None:
            if not self._warned:
                logger.warning(MISSING)
                self._warned = True
            return HttpResponse(
                404, MISSING.encode(), {"Content-Type": "text/plain; charset=utf-8"}
            )
        body, etag = loaded
        headers = {"ETag": etag, "Cache-Control": "public, max-age=0"}
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(304, b"", headers)
        kind = "application/json" if name.endswith(".map") else "application/javascript"
        headers["Content-Type"] = f"{kind}; charset=utf-8"
        return HttpResponse(200, body, headers)

    def _load(self, name: str) -> tuple[bytes, str] | None:
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        if self._folder is None:
            return None
        try:
            body = (self._folder / name).read_bytes()
        except OSError:
            return None
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        self._cache[name] = (body, etag)
        return body, etag
