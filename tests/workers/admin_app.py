"""The app of the admin UI test: ``workers_app``'s server with the admin UI's protocol on
``/admin``, without authentication (``roomcast serve admin_app:build --workers 2``)."""

from __future__ import annotations

from workers_app import build as build_app  # type: ignore[import-not-found]

import roomcast


def build() -> roomcast.Server:
    io = build_app()
    roomcast.instrument(io, auth=False)
    return io
