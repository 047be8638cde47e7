"""``roomcast chat`` under a realistic load: simulated users in rooms, and notifications.

```sh
.venv/bin/python bench/chat_load.py                         # 1000 users, 100 rooms, SQLite
.venv/bin/python bench/chat_load.py --workers 2
.venv/bin/python bench/chat_load.py --store postgresql://postgres@127.0.0.1:5432/test
.venv/bin/python bench/chat_load.py --users 200 --seconds 20   # a quick one
```

Each user is one official ``socket.io-client`` socket (``load/chat_users.mjs``, one Node
process) in one of ``--rooms`` rooms; every user sends a message every ``--interval``
seconds (10: a busy chat), after two typing events, and every member of the room receives
it: the figures are the delivery latency (send to receipt, p50 and p99), the server's CPU
(every process of the service, from /proc) and what was refused. Meanwhile
``--notifications`` are sent through ``POST /api/notify`` to random users, ``--concurrency``
at a time: requests per second and delivery latency to the users' tabs.

The users are signed up once per data folder (``bench/out/chat-<store>/``, tokens kept in
``users.json``): sign-ups are argon2 hashes and limited to 30 a minute per address, so they
come from many loopback addresses (127.0.0.2...). Prints one JSON object. Linux only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
USERS_JS = ROOT / "bench" / "load" / "chat_users.mjs"
NOTIFY_TOKEN = "bench-notify-token"
PASSWORD = "bench password"
SERVING = re.compile(r"serving http://127\.0\.0\.1:(\d+)")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root_pid: int) -> float:
    """User and system CPU of ``root_pid`` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    tree, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    return sum(times.get(pid, 0.0) for pid in tree)


async def start_server(folder: Path, args: list[str]) -> tuple[asyncio.subprocess.Process, int]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "roomcast", "chat", "--port", "0", "--notify-token", NOTIFY_TOKEN,
        *args,
        cwd=folder, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    async for line in proc.stderr:
        found = SERVING.search(line.decode(errors="replace"))
        if found:
            asyncio.get_running_loop().create_task(_drain(proc.stderr))
            return proc, int(found.group(1))
    raise RuntimeError("roomcast chat did not start")


async def _drain(stream: asyncio.StreamReader) -> None:
    async for line in stream:
        sys.stderr.write(line.decode(errors="replace"))


async def sign_up_all(url: str, count: int, rooms: int) -> list[dict[str, Any]]:
    """Sign up ``count`` users, ten per loopback address (the limit's burst)."""
    users: list[dict[str, Any]] = []

    async def batch(start: int) -> None:
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.0.{2 + start // 10}", 0))
        async with aiohttp.ClientSession(connector=connector) as http:
            for i in range(start, min(start + 10, count)):
                body = {"name": f"user{i}", "password": PASSWORD}
                async with http.post(f"{url}/api/signup", json=body) as response:
                    if response.status == 409:
                        async with http.post(f"{url}/api/login", json=body) as login:
                            answer = await login.json()
                    else:
                        answer = await response.json()
                users.append(
                    {
                        "token": answer["token"],
                        "room": f"room{i % rooms}",
                        "creator": i < rooms,
                        "name": f"user{i}",
                    }
                )

    await asyncio.gather(*(batch(start) for start in range(0, count, 10)))
    return sorted(users, key=lambda u: int(u["name"][4:]))


async def notify_all(
    url: str, users: list[dict[str, Any]], count: int, concurrency: int
) -> dict[str, float]:
    names = [u["name"] for u in users]
    done = 0
    started = time.perf_counter()

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal done
        headers = {"Authorization": f"Bearer {NOTIFY_TOKEN}"}
        while done < count:
            done += 1
            body = {"user": random.choice(names), "title": f"t:{time.time() * 1000:.3f}"}
            async with http.post(f"{url}/api/notify", json=body, headers=headers) as response:
                assert response.status == 201, await response.text()

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {"notify_requests": count, "notify_seconds": elapsed, "notify_per_s": count / elapsed}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    store = "postgres" if args.store else "sqlite"
    folder = ROOT / "bench" / "out" / f"chat-{store}"
    folder.mkdir(parents=True, exist_ok=True)
    server_args = ["--workers", str(args.workers)] + (["--store", args.store] if args.store else [])
    proc, port = await start_server(folder, server_args)
    url = f"http://127.0.0.1:{port}"
    try:
        users_file = folder / f"users-{args.users}-{args.rooms}.json"
        if not users_file.exists():
            users_file.write_text(json.dumps(await sign_up_all(url, args.users, args.rooms)))
        load = await asyncio.create_subprocess_exec(
            "node", str(USERS_JS), url, str(users_file), str(args.seconds), str(args.interval),
            cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert load.stdout is not None
        ready = json.loads(await load.stdout.readline())
        cpu_before, wall_before = cpu_seconds(proc.pid), time.perf_counter()
        await asyncio.sleep(args.seconds / 3)  # the messages have been flowing a while
        users = json.loads(users_file.read_text())
        notes = await notify_all(url, users, args.notifications, args.concurrency)
        result = json.loads(await load.stdout.readline())
        cpu = cpu_seconds(proc.pid) - cpu_before
        wall = time.perf_counter() - wall_before
        await load.wait()
        return {
            "store": store,
            "workers": args.workers,
            "rooms": args.rooms,
            "interval_s": args.interval,
            "connect_ms": round(ready["connect_ms"]),
            **result,
            **notes,
            "server_cpu_percent": round(100 * cpu / wall, 1),
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rooms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--store", default=None, help="postgresql://... (default: SQLite)")
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=20)
    print(json.dumps(asyncio.run(main(parser.parse_args()))))
