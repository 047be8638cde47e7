"""``roomcast serve --reload``: serve in a child process, and start it again when a source
file changes (for development; uvicorn's ``--reload``).

The child is a fresh ``python -m roomcast serve ...`` without ``--reload``, so the app is
imported anew each time (a forked worker would keep the code it was forked with). Changes
are found by polling modification times, every ``interval`` seconds, of the ``*.py`` files
under the watched folders (hidden folders, ``__pycache__``, ``node_modules`` and virtual
environments skipped): no dependency, and a few milliseconds per pass for a project.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType

from .supervisor import end_with_parent

logger = logging.getLogger("roomcast.reload")

SKIPPED = frozenset({"__pycache__", "node_modules", "site-packages", "venv"})
STOP_TIMEOUT = 10.0
RELOAD_ENV = "ROOMCAST_RELOAD"


def watched_folders(target: str, cwd: Path) -> list[Path]:
    """The folders to watch for ``target``: a file target's folder, else the working
    directory (where ``module:attribute`` is imported from)."""
    module, _, _ = target.rpartition(":")
    if module.endswith(".py") or "/" in module or os.sep in module:
        return [(cwd / module).resolve().parent]
    return [cwd.resolve()]


def python_files(folders: Iterable[Path]) -> Iterator[Path]:
    """The ``*.py`` files under ``folders``, skipping hidden and environment folders."""
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if not d.startswith(".") and d not in SKIPPED]
            for name in files:
                if name.endswith(".py"):
                    yield Path(root, name)


def snapshot(folders: Iterable[Path]) -> dict[Path, int]:
    """Each watched file's modification time (ns)."""
    times: dict[Path, int] = {}
    for path in python_files(folders):
        try:
            times[path] = path.stat().st_mtime_ns
        except OSError:  # removed between the listing and the stat
            continue
    return times


def changed(before: dict[Path, int], after: dict[Path, int]) -> list[Path]:
    """Files added, removed or modified between two snapshots."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


class Reloader:
    """Runs ``python -m roomcast serve ARGS`` and runs it again after each change, until
    SIGINT or SIGTERM (passed on to the child, whose exit status becomes ours)."""

    def __init__(self, args: Sequence[str], folders: list[Path], interval: float = 0.5) -> None:
        self.args = list(args)
        self.folders = folders
        self.interval = interval
        self._stop: int | None = None
        self._child: subprocess.Popen[bytes] | None = None

    def run(self) -> int:
        saved = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._loop()
        finally:
            for signum, handler in saved.items():
                signal.signal(signum, handler)

    def _loop(self) -> int:
        where = ", ".join(str(f) for f in self.folders)
        logger.info("roomcast: reloading on changes to *.py files under %s", where)
        files = snapshot(self.folders)
        self._start()
        while self._stop is None:
            time.sleep(self.interval)
            now = snapshot(self.folders)
            paths = changed(files, now)
            if paths and self._stop is None:
                files = now
                names = ", ".join(p.name for p in paths[:5]) + (" ..." if len(paths) > 5 else "")
                logger.info("roomcast: %s changed, restarting", names)
                self._end(signal.SIGTERM)
                self._start()
        return self._end(self._stop)

    def _start(self) -> None:
        parent = os.getpid()
        env = {k: v for k, v in os.environ.items() if k != RELOAD_ENV}  # it would reload too
        self._child = subprocess.Popen(
            [sys.executable, "-m", "roomcast", "serve", *self.args],
            env=env,
            process_group=0,  # a terminal's Ctrl-C reaches us only; we pass it on, once
            preexec_fn=lambda: end_with_parent(parent),
        )

    def _end(self, signum: int) -> int:
        """Stop the child (it drains as on SIGTERM); its exit status."""
        child, self._child = self._child, None
        if child is None:
            return 0
        if child.poll() is None:
            child.send_signal(signum)
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
        return child.wait()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop = signum
