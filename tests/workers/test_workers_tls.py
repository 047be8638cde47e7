"""``roomcast serve --certfile F --keyfile F``: TLS on the public port of every worker, with
a certificate from a throwaway CA made by ``trustme``; the official client over ``wss://``
and ``https://`` polling with two workers; a clear error for a bad key."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
from pathlib import Path

import pytest
import trustme

from integration.support import WAIT
from roomcast.cli import main

from .workers_support import Served

NODE = shutil.which("node")
CLIENTS = Path(__file__).resolve().parent / "node" / "tls_clients.mjs"


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A CA, and a certificate for 127.0.0.1 with its key, as PEM files."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    ca.cert_pem.write_to_path(str(files["ca"]))
    cert.cert_chain_pems[0].write_to_path(str(files["cert"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    return files


def tls_args(files: dict[str, Path]) -> tuple[str, ...]:
    return ("--certfile", str(files["cert"]), "--keyfile", str(files["key"]))


def test_a_bad_key_is_refused_before_serving(
    tls_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tls_files["key"].write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n")
    assert main(["serve", "workers_app:build", "--port", "0", *tls_args(tls_files)]) == 2
    err = capsys.readouterr().err
    assert "roomcast: error: cannot load the TLS certificate" in err
    assert str(tls_files["key"]) in err


def test_a_key_that_does_not_match_is_refused(
    tls_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    trustme.CA().issue_cert("127.0.0.1").private_key_pem.write_to_path(str(tls_files["key"]))
    assert main(["serve", "workers_app:build", "--port", "0", *tls_args(tls_files)]) == 2
    assert "cannot load the TLS certificate" in capsys.readouterr().err


def test_a_keyfile_needs_a_certfile(
    tls_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["serve", "workers_app:build", "--keyfile", str(tls_files["key"])]
    assert main(args) == 2
    assert "--keyfile needs --certfile" in capsys.readouterr().err


async def test_two_workers_over_tls(tls_files: dict[str, Path]) -> None:
    served = await Served.start(workers=2, extra=tls_args(tls_files))
    try:
        assert served.lines(r"2 workers serving https://127\.0\.0\.1:")
        # ALPN: http/1.1 is what the public port speaks
        context = ssl.create_default_context(cafile=str(tls_files["ca"]))
        context.set_alpn_protocols(["h2", "http/1.1"])
        _, writer = await asyncio.open_connection("127.0.0.1", served.port, ssl=context)
        assert writer.get_extra_info("ssl_object").selected_alpn_protocol() == "http/1.1"
        writer.close()
        # a plain HTTP request on the TLS port gets nothing served
        reader, plain = await asyncio.open_connection("127.0.0.1", served.port)
        plain.write(b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b'"sid"' not in await asyncio.wait_for(reader.read(), WAIT)
        plain.close()
        if NODE is not None:
            env = dict(os.environ, NODE_EXTRA_CA_CERTS=str(tls_files["ca"]))
            proc = await asyncio.create_subprocess_exec(
                NODE, str(CLIENTS), f"https://127.0.0.1:{served.port}", "4",
                stdout=asyncio.subprocess.PIPE, env=env,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(proc.communicate(), WAIT * 2)
            got = json.loads(out)
            assert got.get("error") is None, got
            sessions = got["sessions"]
            assert len(sessions) == 8
            assert all(s["echo"] == "over TLS" for s in sessions)
            assert all(s["transport"] == "websocket" for s in sessions)
    finally:
        assert await served.stop() == 0
