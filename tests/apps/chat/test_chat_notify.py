"""Live notifications: POST /api/notify reaches every tab of that user and no one else,
and waits, stored, for a user who is not connected."""

from __future__ import annotations

import pytest

from .support import Api, Tabs, needs_node

pytestmark = needs_node


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"user": "ada"}, 400, "validation_failed"),
        ({"user": "ada", "title": "t", "url": "javascript:alert(1)"}, 400, "validation_failed"),
        ({"user": "ada", "title": "x" * 201}, 400, "validation_failed"),
        ({"user": "nobody", "title": "t"}, 404, "not_found"),
        ({"user": 999, "title": "t"}, 404, "not_found"),
    ],
)
async def test_bad_notifications_are_refused(
    api: Api, body: dict[str, object], status: int, code: str
) -> None:
    await api.signup("ada")
    answer = await api.notify(body)
    assert answer[0] == status
    assert answer[1]["_rc_error"]["code"] == code


async def test_a_token_is_required(api: Api) -> None:
    await api.signup("ada")
    for token in (None, "wrong", ""):
        status, body = await api.notify({"user": "ada", "title": "t"}, token=token)
        assert status == 401
        assert body["_rc_error"]["code"] == "unauthorized"


async def test_every_tab_of_that_user_and_no_one_else(api: Api, tabs: Tabs) -> None:
    ada = await api.signup("ada")
    await tabs.open("ada-1", ada)
    await tabs.open("ada-2", ada)
    await tabs.open("bob", await api.signup("bob"))
    status, sent = await api.notify(
        {
            "user": "ada",
            "title": "Build <b>done</b>",
            "body": "all green",
            "url": "https://ci.example/1",
        }
    )
    assert status == 201
    assert sent["user"]["name"] == "ada"
    for tab in ("ada-1", "ada-2"):
        note = (await tabs.event(tab, "notification", id=sent["notification"]["id"]))[0]
        assert (note["title"], note["body"], note["url"]) == (
            "Build <b>done</b>", "all green", "https://ci.example/1",
        )  # fmt: skip
        assert (note["read"], note["unread"]) == (False, 1)
    bob_id = (await tabs.ok("bob", "me"))["user"]["id"]
    status, own = await api.notify({"user": bob_id, "title": "for bob"})
    assert status == 201
    await tabs.event("bob", "notification", id=own["notification"]["id"])
    # what was sent to ada before would have reached bob first, on his one connection
    assert [n["title"] for n in tabs.events("bob", "notification")] == ["for bob"]


async def test_stored_for_a_user_who_is_away(api: Api, tabs: Tabs) -> None:
    carol = await api.signup("carol")
    for title in ("first", "second"):
        assert (await api.notify({"user": "carol", "title": title}))[0] == 201
    status, me = await api.request("GET", "/api/me", token=carol)
    assert (status, me["notifications"]) == (200, {"unread": 2})
    await tabs.open("carol", carol)
    await tabs.open("carol-2", carol)
    assert (await tabs.ok("carol", "me"))["notifications"] == {"unread": 2}
    listed = await tabs.ok("carol", "notifications", {})
    assert [n["title"] for n in listed["items"]] == ["second", "first"]
    assert listed["unread"] == 2
    first = listed["items"][1]["id"]
    assert await tabs.ok("carol", "notifications-read", {"ids": [first]}) == {"unread": 1}
    told = await tabs.event("carol-2", "notifications-read", ids=[first])
    assert told[0]["unread"] == 1
    assert await tabs.ok("carol", "notifications-read", {}) == {"unread": 0}
    older = await tabs.ok("carol", "notifications", {"before": listed["items"][0]["id"]})
    assert [(n["title"], n["read"]) for n in older["items"]] == [("first", True)]
