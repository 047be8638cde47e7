"""The native server's HTTP side as a property: any request-like bytes, cut anywhere, are
answered (or the connection closed) without an exception escaping ``data_received`` or a
task failing. The harness is the HTTP fuzz target's (a transport that records writes)."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fuzz.targets.frames import client_frame  # noqa: E402
from fuzz.targets.http import test_one_input as serve  # noqa: E402

METHODS = st.sampled_from(["GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "G\x00T", ""])
TARGETS = st.sampled_from(
    ["/", "/ws", "*", "host:80", "http://x/ws?a=b", "/engine.io/?EIO=4&transport=polling", "/%"]
)
HEADERS = st.lists(
    st.sampled_from(
        [
            "Host: x",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Connection: close",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
            "Content-Length: 5",
            "Content-Length: -1",
            "Transfer-Encoding: chunked",
            "Bad Header",
        ]
    ),
    max_size=7,
)
REQUESTS = st.builds(
    lambda method, target, version, headers, body: (
        (f"{method} {target} {version}\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode(
            "latin-1"
        )
        + body
    ),
    METHODS,
    TARGETS,
    st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/9"]),
    HEADERS,
    st.binary(max_size=20)
    | st.builds(client_frame, st.sampled_from([1, 2, 8, 9, 0x0B]), st.binary(max_size=30)),
)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.lists(REQUESTS | st.binary(max_size=40), min_size=1, max_size=3))
def test_any_requests_are_answered_without_an_exception(step: int, requests: list[bytes]) -> None:
    serve(bytes([step]) + b"".join(requests))
