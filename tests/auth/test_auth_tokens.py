"""The JWT middleware without a network: where the token is read from, what each bad token
is refused with (``connect_error`` data), what a good one puts in ``socket.data``, and the
options that are refused at construction (algorithm confusion, unsigned tokens)."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import roomcast
from roomcast.auth.jwt import JwtAuth
from roomcast.transports.http import make_headers

SECRET = "test-secret-" + "0123456789abcdef" * 4  # 76 bytes: long enough for HS512


def handshake(
    auth: dict[str, Any] | None = None, headers: list[tuple[str, str]] | None = None
) -> roomcast.Handshake:
    return roomcast.Handshake(
        auth=auth or {},
        headers=make_headers(headers or []),
        query={},
        address="127.0.0.1",
        secure=False,
        url="/socket.io/",
        issued=0.0,
    )


def hs256(**claims: Any) -> str:
    return jwt.encode({"sub": "alice", "exp": int(time.time()) + 60, **claims}, SECRET, "HS256")


def refusal(auth: JwtAuth, token: str, key: Any = SECRET) -> tuple[str, str]:
    with pytest.raises(roomcast.ConnectionRefused) as refused:
        auth.decode(token, key)
    return refused.value.data["code"], refused.value.message


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        ({"token": "T"}, []),
        ({"token": "Bearer T"}, []),
        ({}, [("Authorization", "Bearer T")]),
        ({}, [("Authorization", "bearer   T")]),
        ({}, [("Cookie", "theme=dark; token=T")]),
        ({"token": "T"}, [("Authorization", "Bearer other"), ("Cookie", "token=other")]),
    ],
)
def test_the_token_is_read_from_auth_then_header_then_cookie(
    auth: dict[str, Any], headers: list[tuple[str, str]]
) -> None:
    assert roomcast.jwt_auth(secret=SECRET).token_of(handshake(auth, headers)) == "T"


@pytest.mark.parametrize(
    ("auth", "headers"),
    [
        ({}, []),
        ({"token": ""}, []),
        ({"token": 42}, []),
        ({}, [("Authorization", "Basic dTpw")]),
        ({}, [("Cookie", "session=T")]),
    ],
)
def test_no_token(auth: dict[str, Any], headers: list[tuple[str, str]]) -> None:
    assert roomcast.jwt_auth(secret=SECRET).token_of(handshake(auth, headers)) is None


def test_the_cookie_name_is_an_option() -> None:
    cookie = [("Cookie", "jwt=T; token=U")]
    assert roomcast.jwt_auth(secret=SECRET, cookie="jwt").token_of(handshake({}, cookie)) == "T"
    assert roomcast.jwt_auth(secret=SECRET, cookie=None).token_of(handshake({}, cookie)) is None


def test_a_valid_token_gives_its_claims() -> None:
    auth = roomcast.jwt_auth(secret=SECRET, audience="chat", issuer="https://id.example")
    claims = auth.decode(hs256(aud="chat", iss="https://id.example", role="admin"), SECRET)
    assert claims["sub"] == "alice"
    assert claims["role"] == "admin"


@pytest.mark.parametrize(
    ("token", "code", "words"),
    [
        (hs256(exp=int(time.time()) - 30), "token_expired", "expired"),
        (hs256()[:-4] + "AAAA", "token_invalid", "signature"),
        (
            jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, "other" * 16, "HS256"),
            "token_invalid",
            "signature",
        ),
        ("not.a.jwt", "token_invalid", "malformed"),
        (jwt.encode({"sub": "a"}, SECRET, "HS256"), "token_invalid", "'exp'"),
        (hs256(nbf=int(time.time()) + 600), "token_invalid", "not valid yet"),
        (
            jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, SECRET, "HS512"),
            "token_invalid",
            "algorithm",
        ),
        (jwt.encode({"sub": "a", "exp": int(time.time()) + 60}, None, "none"), "token_invalid", ""),
    ],
    ids=["expired", "tampered", "other-secret", "malformed", "no-exp", "nbf", "hs512", "alg-none"],
)
def test_bad_tokens_are_refused_with_a_code(token: str, code: str, words: str) -> None:
    got_code, message = refusal(roomcast.jwt_auth(secret=SECRET), token)
    assert got_code == code
    assert words in message


def test_audience_and_issuer_are_checked() -> None:
    auth = roomcast.jwt_auth(secret=SECRET, audience=["chat", "admin"], issuer="https://id.example")
    assert refusal(auth, hs256(aud="billing", iss="https://id.example"))[1].endswith("audience")
    assert "issuer" in refusal(auth, hs256(aud="chat", iss="https://evil.example"))[1]
    assert auth.decode(hs256(aud="admin", iss="https://id.example"), SECRET)["sub"] == "alice"


def test_leeway_accepts_a_token_just_expired() -> None:
    token = hs256(exp=int(time.time()) - 5)
    assert roomcast.jwt_auth(secret=SECRET, leeway=30).decode(token, SECRET)["sub"] == "alice"
    assert refusal(roomcast.jwt_auth(secret=SECRET), token)[0] == "token_expired"


@pytest.mark.parametrize("curve", ["rsa", "ec"])
def test_public_key_algorithms(curve: str) -> None:
    private: Any = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if curve == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    algorithm = "RS256" if curve == "rsa" else "ES256"
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    auth = roomcast.jwt_auth(key=pem)  # RS256 and ES256 by default
    token = jwt.encode({"sub": "bob", "exp": int(time.time()) + 60}, private, algorithm)

    assert auth.decode(token, pem)["sub"] == "bob"
    # algorithm confusion: an HS256 token "signed" with the public key is refused
    forged = jwt.encode({"sub": "eve", "exp": int(time.time()) + 60}, SECRET, "HS256")
    assert refusal(auth, forged, pem)[0] == "token_invalid"


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"secret": SECRET, "key": "pem"},
        {"secret": SECRET, "algorithms": ["RS256"]},
        {"key": "pem", "algorithms": ["HS256"]},
        {"jwks_url": "http://x", "algorithms": ["HS256", "RS256"]},
    ],
)
def test_confusing_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="secret"):
        roomcast.jwt_auth(**options)
