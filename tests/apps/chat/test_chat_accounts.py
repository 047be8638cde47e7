"""Sign up, log in, log out over HTTP; the token opens a Socket.IO connection."""

from __future__ import annotations

import pytest

from .support import PASSWORD, Api, Tabs, needs_node

pytestmark = needs_node


async def test_sign_up_log_in_and_unique_names(api: Api) -> None:
    token = await api.signup("Ada")
    status, body = await api.request("POST", "/api/signup", {"name": "ada", "password": PASSWORD})
    assert (status, body["_rc_error"]["code"]) == (409, "name_taken")
    status, body = await api.request("POST", "/api/login", {"name": "ada", "password": PASSWORD})
    assert status == 200
    assert body["user"]["name"] == "Ada"
    status, me = await api.request("GET", "/api/me", token=token)
    assert status == 200
    assert me == {"user": body["user"], "notifications": {"unread": 0}}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": "", "password": PASSWORD}, "name"),
        ({"name": "a b", "password": PASSWORD}, "name"),
        ({"name": "x" * 33, "password": PASSWORD}, "name"),
        ({"name": "ada", "password": "short"}, "password"),
        ({"name": "ada"}, "password"),
    ],
)
async def test_sign_up_validates(api: Api, body: dict[str, str], where: str) -> None:
    status, answer = await api.request("POST", "/api/signup", body)
    assert status == 400
    error = answer["_rc_error"]
    assert error["code"] == "validation_failed"
    assert error["details"][0]["loc"] == [where]


async def test_wrong_password_or_name_is_refused_alike(api: Api) -> None:
    await api.signup("ada")
    wrong = await api.request("POST", "/api/login", {"name": "ada", "password": "x" * 10})
    unknown = await api.request("POST", "/api/login", {"name": "bob", "password": PASSWORD})
    assert wrong == unknown
    assert wrong[0] == 401
    assert wrong[1]["_rc_error"]["code"] == "bad_credentials"


async def test_logout_ends_the_session_and_its_tabs(api: Api, tabs: Tabs) -> None:
    token = await api.signup("ada")
    other = (await api.request("POST", "/api/login", {"name": "ada", "password": PASSWORD}))[1]
    await tabs.open("a1", token)
    await tabs.open("a2", other["token"])
    assert (await api.request("POST", "/api/logout", token=token))[0] == 200
    record = await tabs.node.wait(type="disconnect", id="a1")
    assert record["reason"] == "io server disconnect"
    assert (await tabs.call("a2", "me"))["user"]["name"] == "ada"  # the other session lives
    status, body = await api.request("GET", "/api/me", token=token)
    assert (status, body["_rc_error"]["code"]) == (401, "unauthorized")
    refused = await tabs.open("a3", token, expect="connect_error")
    assert refused["data"] == {"code": "session_ended"}


async def test_a_socket_needs_a_valid_token(api: Api, tabs: Tabs) -> None:
    missing = await tabs.node.connect("x", transports=["websocket"], expect="connect_error")
    assert missing["data"]["code"] == "token_missing"
    forged = await tabs.open("y", "e30.e30.e30", expect="connect_error")
    assert forged["data"]["code"] == "token_invalid"
