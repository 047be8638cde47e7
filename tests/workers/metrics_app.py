"""The app of the metrics test: ``workers_app``'s server with Prometheus metrics at
``/metrics`` (``roomcast serve metrics_app:build --workers 2``)."""

from __future__ import annotations

from workers_app import build as build_app  # type: ignore[import-not-found]

import roomcast
from roomcast.observe.metrics import Metrics


def build() -> roomcast.Server:
    io = build_app()
    Metrics(io)
    return io
