"""The fixed contract of ``roomcast chat``: one command in an empty folder, nothing else."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from roomcast.cli import main

from .support import running


async def test_it_starts_on_embedded_defaults_in_an_empty_folder(tmp_path: Path) -> None:
    async with running(tmp_path) as server, aiohttp.ClientSession() as http:
        async with http.get(server.url + "/socket.io/socket.io.js") as response:
            assert response.status == 200
            assert "io" in await response.text()
        async with http.post(
            server.url + "/api/notify", json={"user": 1, "title": "t"}
        ) as response:
            assert response.status == 401
            error = (await response.json())["_rc_error"]
            assert error["code"] == "unauthorized"
            assert set(error) == {"code", "message", "details"}
        token = (tmp_path / "roomcast-data" / "notify-token").read_text().strip()
        headers = {"Authorization": "Bearer not-" + token}
        async with http.post(
            server.url + "/api/notify", json={"user": 1, "title": "t"}, headers=headers
        ) as response:
            assert response.status == 401
    data = tmp_path / "roomcast-data"
    assert {"chat.db", "stream.db", "secret", "notify-token"} <= {p.name for p in data.iterdir()}
    assert (data / "notify-token").stat().st_mode & 0o077 == 0


def test_help_says_how_the_notify_token_is_set(capsys: object) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["chat", "--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    for needle in ("--notify-token", "$ROOMCAST_NOTIFY_TOKEN", "--port", "$PORT", "--data"):
        assert needle in out
