"""``python -m fuzz``: run the targets under libFuzzer (atheris) and keep their corpus.

``run TARGET --seconds N`` fuzzes one target (or ``all``, one after the other) for N
seconds, starting from its kept corpus; the inputs that found new coverage are then merged
into ``fuzz/corpus/TARGET/`` (libFuzzer's ``-merge=1``: only those that add coverage, so
the corpus stays small). It prints the inputs tried, the entries kept and any crash (the
input is written to ``fuzz/crashes/``). ``replay`` runs the kept corpus through the targets
without atheris (what the test suite does).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from . import TARGETS

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"
CRASHES = ROOT / "crashes"

MAX_LEN = 4096
"""The largest input libFuzzer makes (bytes): parsers' limits are set small in the targets,
so this reaches them."""
TIMEOUT = 10
"""Seconds one input may take before it counts as a hang."""
RSS_LIMIT_MB = 1024
"""Memory the fuzzing process may use before it counts as a crash."""


def target_module(name: str) -> ModuleType:
    if name not in TARGETS:
        raise SystemExit(f"unknown target {name!r}; one of: {', '.join(TARGETS)}")
    return importlib.import_module(f"fuzz.targets.{name}")


def corpus_files(name: str) -> list[Path]:
    folder = CORPUS / name
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def replay(name: str) -> int:
    """Run the kept corpus of ``name`` through its target; the number of inputs."""
    test_one_input: Callable[[bytes], None] = target_module(name).test_one_input
    files = corpus_files(name)
    for path in files:
        test_one_input(path.read_bytes())
    return len(files)


def write_seeds(name: str) -> None:
    """Put the target's seeds (``SEEDS``: golden vectors) into its corpus, once."""
    folder = CORPUS / name
    folder.mkdir(parents=True, exist_ok=True)
    for seed in getattr(target_module(name), "SEEDS", ()):
        path = folder / hashlib.sha1(seed).hexdigest()
        if not path.exists():
            path.write_bytes(seed)


@dataclass
class Outcome:
    target: str
    seconds: float
    inputs: int
    kept: int
    crash: str | None


def _libfuzzer(name: str, args: Sequence[str], log: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "fuzz", "_libfuzzer", name, *args]
    with log.open("w") as out:
        return subprocess.run(
            command, cwd=ROOT.parent, stdout=out, stderr=subprocess.STDOUT, text=True
        )


def run(name: str, seconds: int) -> Outcome:
    """Fuzz ``name`` for ``seconds``; merge what it found into the kept corpus."""
    write_seeds(name)
    kept = CORPUS / name
    CRASHES.mkdir(exist_ok=True)
    before = len(corpus_files(name))
    with tempfile.TemporaryDirectory(prefix=f"fuzz-{name}-") as tmp:
        found, log = Path(tmp) / "new", Path(tmp) / "log"
        found.mkdir()
        start = time.monotonic()
        _libfuzzer(
            name,
            [
                f"-max_total_time={seconds}",
                f"-timeout={TIMEOUT}",
                f"-rss_limit_mb={RSS_LIMIT_MB}",
                f"-max_len={MAX_LEN}",
                "-print_final_stats=1",
                f"-artifact_prefix={CRASHES}/{name}-",
                str(found),
                str(kept),
            ],
            log,
        )
        elapsed = time.monotonic() - start
        text = log.read_text(errors="replace")
        runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
        if not runs:
            runs = re.findall(r"^#(\d+)\s", text, re.MULTILINE)
        crash = _crash(text)
        if crash is not None:
            shutil.copy(log, CRASHES / f"{name}.log")
        if any(found.iterdir()):
            _libfuzzer(name, ["-merge=1", f"-max_len={MAX_LEN}", str(kept), str(found)], log)
    return Outcome(
        name, elapsed, int(runs[-1]) if runs else 0, len(corpus_files(name)) - before, crash
    )


def _crash(log: str) -> str | None:
    """What went wrong, from libFuzzer's log (None: no crash): the input kept, and the
    Python exception or libFuzzer's reason (a timeout, out of memory)."""
    artifact = re.search(r"Test unit written to (\S+)", log)
    if artifact is None:
        return None
    python = re.search(r"=== Uncaught Python exception: ===\n(.+)", log)
    fuzzer = re.search(r"==\d+== ERROR: libFuzzer: (.+)", log)
    detail = python.group(1) if python else fuzzer.group(1) if fuzzer else "see the log"
    return f"{artifact.group(1)}: {detail}"


def _child(name: str, args: list[str]) -> None:
    """The fuzzing process: the target imported with roomcast instrumented, then libFuzzer."""
    import atheris

    with atheris.instrument_imports(include=["roomcast", "fuzz.targets"]):
        module = target_module(name)
    # libFuzzer runs argv[0] through the shell for its merge step: the same command again
    atheris.Setup([f"{sys.executable} -m fuzz _libfuzzer {name}", *args], module.test_one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_libfuzzer"]:
        _child(argv[1], argv[2:])
        return 0
    parser = argparse.ArgumentParser(prog="python -m fuzz")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the targets and the size of their corpus")
    run_parser = commands.add_parser("run", help="fuzz a target (or all) for a while")
    run_parser.add_argument("target", choices=[*TARGETS, "all"])
    run_parser.add_argument("--seconds", type=int, default=60)
    replay_parser = commands.add_parser("replay", help="the kept corpus through the targets")
    replay_parser.add_argument("target", nargs="?", choices=TARGETS)
    options = parser.parse_args(argv)
    if options.command == "list":
        for name in TARGETS:
            print(f"{name:18} {len(corpus_files(name)):5} corpus entries")
        return 0
    if options.command == "replay":
        for name in [options.target] if options.target else TARGETS:
            print(f"{name:18} {replay(name):5} inputs replayed")
        return 0
    names = TARGETS if options.target == "all" else (options.target,)
    print("| target | seconds | inputs tried | new corpus entries | crash |")
    print("|---|---|---|---|---|")
    failed = False
    for name in names:
        outcome = run(name, options.seconds)
        failed = failed or outcome.crash is not None
        print(
            f"| {outcome.target} | {outcome.seconds:.0f} | {outcome.inputs:,} "
            f"| {outcome.kept} | {outcome.crash or 'none'} |",
            flush=True,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
