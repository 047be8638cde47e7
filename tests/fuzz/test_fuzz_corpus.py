"""The kept fuzz corpus as a regression suite: every input in ``fuzz/corpus/<target>/``
(inputs that found new coverage, and those that once crashed) runs through its target
without atheris. A target raises only for a bug (see ``fuzz/__init__.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # ``fuzz`` lives beside ``src``, not in the package
    sys.path.insert(0, str(ROOT))

from fuzz.__main__ import corpus_files, target_module  # noqa: E402

from fuzz import TARGETS  # noqa: E402


@pytest.mark.parametrize("target", TARGETS)
def test_the_kept_corpus_replays_without_a_crash(target: str) -> None:
    files = corpus_files(target)
    assert files, f"fuzz/corpus/{target} is empty: run python -m fuzz run {target}"
    test_one_input = target_module(target).test_one_input
    for path in files:
        test_one_input(path.read_bytes())


@pytest.mark.parametrize("target", TARGETS)
def test_each_target_has_seeds(target: str) -> None:
    seeds = getattr(target_module(target), "SEEDS", [])
    assert seeds, target
    for seed in seeds:
        target_module(target).test_one_input(seed)
