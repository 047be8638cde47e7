"""Health endpoints for load balancers and probes: ``/healthz`` and ``/readyz``.

- ``/healthz`` (liveness) answers 200 ``{"status":"alive"}`` while the process serves HTTP.
- ``/readyz`` (readiness) answers 200 ``{"status":"ready","adapter":"ok","store":"ok"}`` when
  the server accepts new clients and its adapter and store are reachable; otherwise 503 with
  the same fields, naming what is not (``"status":"draining"``, ``"adapter":"down"``,
  ``"store":"down"``), so that a load balancer sends new clients elsewhere.

The route only reads what the server reports (``Readiness``): it watches, never steers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Final, Literal

from ..adapters.base import Adapter
from ..adapters.cluster import ClusterAdapter
from ..transports.http import HandshakeRequest, HttpResponse, ReadBody
from ..transports.routes import Route

State = Literal["ok", "down"]

_HEADERS: Final = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Health:
    """Where the health endpoints are served (``Server(health=Health(...))``).

    Attributes:
        live: the liveness path (None: not served).
        ready: the readiness path (None: not served).
    """

    live: str | None = "/healthz"
    ready: str | None = "/readyz"

    def __post_init__(self) -> None:
        for path in (self.live, self.ready):
            if path is not None and not path.startswith("/"):
                raise ValueError(f"a health path starts with '/', not {path!r}")
        if self.live is not None and self.live == self.ready:
            raise ValueError("the liveness and readiness paths must differ")


HealthOption = Health | bool
"""``True``: the default paths; ``False``: no health endpoints; a ``Health``: these paths."""


def health_of(option: HealthOption) -> Health | None:
    """The paths to serve for ``option`` (None: none)."""
    if option is True:
        return Health()
    if option is False:
        return None
    return option


@dataclass(frozen=True, slots=True)
class Readiness:
    """What ``/readyz`` reports: whether new clients are accepted, and the state of the
    adapter (the cluster's bus) and of the store."""

    accepting: bool = True
    adapter: State = "ok"
    store: State = "ok"

    @property
    def ready(self) -> bool:
        return self.accepting and self.adapter == "ok" and self.store == "ok"

    def as_json(self) -> dict[str, str]:
        status = "ready" if self.ready else ("not ready" if self.accepting else "draining")
        return {"status": status, "adapter": self.adapter, "store": self.store}


def adapter_state(adapters: Iterable[Adapter]) -> State:
    """``"down"`` when a cluster adapter's bus (Redis, the local hub) is not connected."""
    for adapter in adapters:
        if isinstance(adapter, ClusterAdapter) and not adapter.bus.connected:
            return "down"
    return "ok"


def store_state(degraded: bool) -> State:
    return "down" if degraded else "ok"


class HealthRoute(Route):
    """Answers the liveness and readiness paths of ``health`` with ``readiness()``."""

    def __init__(self, health: Health, readiness: Callable[[], Readiness]) -> None:
        super().__init__()
        self.health = health
        self.readiness = readiness

    def exact_paths(self) -> Iterator[str]:
        for path in (self.health.live, self.health.ready):
            if path is not None:
                yield path

    def answer_now(self, request: HandshakeRequest, body: bytes | None) -> HttpResponse | None:
        if request.method not in ("GET", "HEAD"):
            return _json(405, {"status": "method not allowed"}, {"Allow": "GET, HEAD"})
        if request.path == self.health.live:
            answer = _json(200, {"status": "alive"})
        else:
            state = self.readiness()
            answer = _json(200 if state.ready else 503, state.as_json())
        if request.method == "HEAD":
            answer.body = b""
        return answer

    async def handle_http(self, request: HandshakeRequest, read_body: ReadBody) -> HttpResponse:
        answer = self.answer_now(request, None)
        assert answer is not None
        return answer

    def precheck_websocket(self, request: HandshakeRequest) -> HttpResponse | None:
        return _json(405, {"status": "method not allowed"})


def _json(status: int, body: dict[str, str], extra: dict[str, str] | None = None) -> HttpResponse:
    data = json.dumps(body, separators=(",", ":")).encode()
    return HttpResponse(status, data, {**_HEADERS, **(extra or {})})
