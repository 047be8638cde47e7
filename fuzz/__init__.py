"""Coverage-guided fuzzing of roomcast's parsers and state machines (atheris, libFuzzer).

One small target per parser in ``fuzz/targets/``: a module with ``test_one_input(data)``
that feeds the bytes to the parser and raises only for a bug (any exception but the
documented protocol errors, a broken invariant: a round trip that does not hold, a buffer
larger than its limit). The corpus of each target is kept in ``fuzz/corpus/<target>/``
(minimized: only inputs that add coverage); ``tests/fuzz`` replays it in the test suite.

    python -m fuzz list
    python -m fuzz run engineio --seconds 120
    python -m fuzz run all --seconds 60
    python -m fuzz replay            # the kept corpus through every target, no atheris

Needs the ``fuzz`` extra (``pip install -e '.[fuzz]'``) for ``run``; see docs/RELIABILITY.md.
"""

from __future__ import annotations

TARGETS: tuple[str, ...] = (
    "engineio",
    "engineio_session",
    "socketio",
    "socketio_msgpack",
    "frames",
    "deflate",
    "http",
    "adapter_wire",
    "store_codec",
)
"""The targets, each a module of ``fuzz.targets``."""
