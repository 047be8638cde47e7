"""The logs of ``roomcast serve``: JSON lines carrying the socket's sid and namespace, and a
clean shutdown (SIGTERM with clients connected) that logs no warning."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from integration.support import NodeClient

from .conftest import needs_node
from .workers_support import Served

pytestmark = needs_node

ServeApp = Callable[..., Awaitable[Served]]
NodeStart = Callable[[str], Awaitable[NodeClient]]

FAILING_APP = """
import roomcast

io = roomcast.Server()


@io.on("boom")
def boom(socket, *args):
    raise ValueError("boom on purpose")
"""


def records(served: Served) -> list[dict[str, Any]]:
    """Every line of the server's stderr, each of which must be one JSON object."""
    return [json.loads(r["text"]) for r in served.log.records]


async def test_json_lines_name_the_socket(
    serve_app: ServeApp, node_client: NodeStart, tmp_path: Path
) -> None:
    app = tmp_path / "failing_app.py"
    app.write_text(FAILING_APP)
    served = await serve_app(f"{app}:io", workers=1, extra=("--log-format", "json"))
    node = await node_client(served.url)
    sid = (await node.connect("a"))["sid"]
    await node.emit("a", "boom", 1)
    hit = await served.log.wait(text=lambda t: "error in the handler" in t)
    line = json.loads(hit["text"])
    assert line["level"] == "ERROR"
    assert line["logger"] == "roomcast.guard"
    assert (line["sid"], line["namespace"]) == (sid, "/")
    assert "ValueError: boom on purpose" in line["exception"]
    assert await served.stop() == 0
    records(served)  # every line is JSON, the traceback included


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_clean_shutdown_logs_no_warning(
    serve_app: ServeApp, node_client: NodeStart, transport: str
) -> None:
    served = await serve_app(workers=2, extra=("--log-format", "json"))
    node = await node_client(served.url)
    ids = [f"c{i}" for i in range(10)]
    await node.connect_all(ids, transports=[transport])
    for i in ids:
        assert await node.call(i, "echo", i) == [i]
    assert await served.stop() == 0
    for i in ids:
        await node.log.wait(id=i, type="disconnect")
    lines = records(served)
    noisy = [line for line in lines if line["level"] not in ("DEBUG", "INFO")]
    assert noisy == []
