"""Sign-ups and logins are limited per client address (30 a minute, bursts of 10): behind
the reverse proxies given with ``--trusted-proxies``, the client is the one their
``X-Forwarded-For`` names; without, that header is ignored."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from integration.support import seconds

from .support import ChatServer, running

BURST = 10


async def log_in(http: aiohttp.ClientSession, server: ChatServer, forwarded_for: str) -> Any:
    """A login with a wrong password, sent as if through a proxy: (status, body, headers)."""
    async with http.post(
        server.url + "/api/login",
        json={"name": "ada", "password": "not the password"},
        headers={"X-Forwarded-For": forwarded_for},
    ) as response:
        return response.status, await response.json(), response.headers


async def burst(
    http: aiohttp.ClientSession, server: ChatServer, forwarded_for: list[str]
) -> list[Any]:
    """Logins sent at once, one per ``X-Forwarded-For`` value (they all arrive within the
    limit's refill time, 2 s): their answers, in the same order."""
    return await asyncio.gather(*(log_in(http, server, value) for value in forwarded_for))


def statuses(answers: list[Any]) -> list[int]:
    return sorted(status for status, _, _ in answers)


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(tmp_path: Path) -> None:
    async with (
        running(tmp_path, "--trusted-proxies", "10.0.0.0/8, 127.0.0.1") as server,
        aiohttp.ClientSession() as http,
    ):
        same = [
            *["203.0.113.7"] * (BURST + 1),
            "198.51.100.1, 203.0.113.7",  # what a client writes before its proxy's hop
            "203.0.113.7, 10.1.2.3",  # through two trusted proxies
        ]
        other = ["203.0.113.8"] * BURST  # another client behind the same proxy
        answers = await burst(http, server, same + other)
        assert statuses(answers[: len(same)]) == [401] * BURST + [429] * 3
        assert statuses(answers[len(same) :]) == [401] * BURST
        _, body, headers = next(answer for answer in answers if answer[0] == 429)
        error = body["_rc_error"]
        assert error["code"] == "rate_limited"
        assert error["details"]["retry_after"] > 0
        assert (error["details"]["rate"], error["details"]["burst"]) == ("30/min", BURST)
        assert int(headers["Retry-After"]) >= 1


async def test_without_trusted_proxies_x_forwarded_for_is_ignored(tmp_path: Path) -> None:
    async with running(tmp_path) as server, aiohttp.ClientSession() as http:
        answers = await burst(http, server, [f"203.0.113.{i}" for i in range(BURST + 2)])
        assert statuses(answers) == [401] * BURST + [429] * 2  # all from the one peer


def test_a_bad_proxy_address_stops_the_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "roomcast", "chat", "--port", "0"],
        cwd=tmp_path,
        env={**os.environ, "ROOMCAST_TRUSTED_PROXIES": "10.0.0.0/8,proxy.example"},
        capture_output=True,
        text=True,
        timeout=seconds(30.0),
        check=False,
    )
    assert done.returncode == 2
    assert "--trusted-proxies" in done.stderr
    assert "proxy.example" in done.stderr
