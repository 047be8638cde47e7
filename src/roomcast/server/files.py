"""Serving a folder of files beside a server (``io.static("/", folder)``): a web page and
its assets on the same port, whichever host serves the route table."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from ..transports.http import HandshakeRequest, HttpResponse
from ..transports.routes import GetRoute, not_found


class StaticFiles(GetRoute):
    """GET and HEAD of the files under ``folder`` at ``prefix``; a path that ends with ``/``
    gets its ``index`` file. Nothing outside ``folder`` is ever read."""

    max_message_size = 0  # no request bodies

    def __init__(self, prefix: str, folder: str | Path, index: str = "index.html") -> None:
        super().__init__()
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"a static prefix starts and ends with '/', not {prefix!r}")
        self.prefix = prefix
        self.folder = Path(folder).resolve()
        self.index = index
        if not self.folder.is_dir():
            raise ValueError(f"{str(folder)!r} is not a folder")

    def prefixes(self) -> tuple[str, ...]:
        return (self.prefix,)

    def get(self, request: HandshakeRequest) -> HttpResponse:
        name = request.path[len(self.prefix) :]
        if name == "" or name.endswith("/"):
            name += self.index
        path = (self.folder / name).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            return not_found()
        data = path.read_bytes()
        etag = '"' + hashlib.sha1(data).hexdigest()[:20] + '"'
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/javascript":
            kind += "; charset=utf-8"
        headers = {"ETag": etag, "Cache-Control": "public, max-age=0", "Content-Type": kind}
        if request.headers.get("If-None-Match") == etag:
            return HttpResponse(304, b"", headers)
        return HttpResponse(200, b"" if request.method == "HEAD" else data, headers)
