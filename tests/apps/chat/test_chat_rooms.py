"""Two users chat: rooms, messages, edits, deletes, unread counts, typing and presence,
seen through the official client."""

from __future__ import annotations

from typing import Any

from .support import Api, Tabs, needs_node

pytestmark = needs_node


async def two_users(api: Api, tabs: Tabs) -> tuple[dict[str, Any], dict[str, Any]]:
    """ada and bob, each with a tab open (``ada``, ``bob``); their ``me`` answers."""
    await tabs.open("ada", await api.signup("ada"))
    await tabs.open("bob", await api.signup("bob"))
    return await tabs.ok("ada", "me"), await tabs.ok("bob", "me")


def error_code(answer: Any) -> str | None:
    return answer.get("_rc_error", {}).get("code") if isinstance(answer, dict) else None


async def test_two_users_chat_in_a_public_room(api: Api, tabs: Tabs) -> None:
    ada, bob = await two_users(api, tabs)
    lobby = await tabs.ok("ada", "create-room", {"name": "lobby"})
    assert (lobby["name"], lobby["kind"], lobby["members"], lobby["unread"]) == (
        "lobby", "public", 1, 0,
    )  # fmt: skip
    listed = await tabs.ok("bob", "rooms")
    assert [(r["name"], r["members"]) for r in listed["public"]] == [("lobby", 1)]
    assert listed["rooms"] == []

    joined = await tabs.ok("bob", "join-room", {"room": lobby["id"]})
    assert joined["room"]["members"] == 2
    assert joined["history"] == {"messages": [], "before": None, "more": False}
    assert [u["name"] for u in joined["online"]] == ["ada", "bob"]
    presence = await tabs.event("ada", "presence", room=lobby["id"], online=joined["online"])
    assert presence[0]["online"] == [ada["user"], bob["user"]]

    sent = await tabs.ok("ada", "send-message", {"room": lobby["id"], "text": "hi <b>bob</b>"})
    assert isinstance(sent["id"], int)
    assert isinstance(sent["offset"], str)
    for tab in ("ada", "bob"):
        args = await tabs.event(tab, "message", id=sent["id"])
        message, offset = args
        assert message["text"] == "hi <b>bob</b>"  # kept as sent: the page escapes it
        assert message["author"] == ada["user"]
        assert (message["room"], message["edited"], message["deleted"]) == (
            lobby["id"],
            None,
            False,
        )
        assert offset == sent["offset"]


async def test_edit_and_delete_by_the_author_only(api: Api, tabs: Tabs) -> None:
    await two_users(api, tabs)
    room = await tabs.ok("ada", "create-room", {"name": "lobby"})
    await tabs.ok("bob", "join-room", {"room": room["id"]})
    sent = await tabs.ok("ada", "send-message", {"room": room["id"], "text": "helo"})
    refused = await tabs.call("bob", "edit-message", {"id": sent["id"], "text": "mine"})
    assert error_code(refused) == "forbidden"
    assert error_code(await tabs.call("bob", "delete-message", {"id": sent["id"]})) == "forbidden"

    blank = await tabs.call("ada", "edit-message", {"id": sent["id"], "text": "   "})
    assert error_code(blank) == "validation_failed"
    edited = await tabs.ok("ada", "edit-message", {"id": sent["id"], "text": "hello"})
    assert edited["text"] == "hello"
    assert edited["edited"] is not None
    seen = await tabs.event("bob", "message-edited", id=sent["id"])
    assert seen[0]["text"] == "hello"

    assert await tabs.ok("ada", "delete-message", {"id": sent["id"]}) == {"ok": True}
    gone = await tabs.event("bob", "message-deleted", id=sent["id"])
    assert gone[0] == {"id": sent["id"], "room": room["id"]}
    again = await tabs.call("ada", "edit-message", {"id": sent["id"], "text": "back"})
    assert error_code(again) == "not_found"
    history = (await tabs.ok("bob", "history", {"room": room["id"]}))["messages"]
    assert [(m["id"], m["text"], m["deleted"]) for m in history] == [(sent["id"], "", True)]


async def test_unread_counts_per_room(api: Api, tabs: Tabs) -> None:
    await two_users(api, tabs)
    room = await tabs.ok("ada", "create-room", {"name": "lobby"})
    await tabs.ok("bob", "join-room", {"room": room["id"]})
    ids = [
        (await tabs.ok("ada", "send-message", {"room": room["id"], "text": f"m{i}"}))["id"]
        for i in range(3)
    ]
    (mine,) = (await tabs.ok("bob", "rooms"))["rooms"]
    assert mine["unread"] == 3
    assert (await tabs.ok("ada", "rooms"))["rooms"][0]["unread"] == 0  # one's own
    assert await tabs.ok("bob", "mark-read", {"room": room["id"], "id": ids[1]}) == {"unread": 1}
    told = await tabs.event("bob", "room-read", room=room["id"])
    assert told[0] == {"room": room["id"], "unread": 1, "last_read": ids[1]}
    await tabs.ok("ada", "delete-message", {"id": ids[2]})
    assert (await tabs.ok("bob", "rooms"))["rooms"][0]["unread"] == 0


async def test_typing_is_passed_on_and_expires_on_the_server(api: Api, tabs: Tabs) -> None:
    _, bob = await two_users(api, tabs)
    room = await tabs.ok("ada", "create-room", {"name": "lobby"})
    await tabs.ok("bob", "join-room", {"room": room["id"]})
    await tabs.node.emit("bob", "typing", {"room": room["id"], "typing": True})
    started = await tabs.event("ada", "typing", room=room["id"], typing=True)
    assert started[0] == {"room": room["id"], "user": bob["user"], "typing": True}
    # bob's tab goes quiet (closed mid-word): the server says he stopped
    stopped = await tabs.event("ada", "typing", room=room["id"], typing=False)
    assert stopped[0]["user"] == bob["user"]
    assert tabs.events("bob", "typing") == []  # one's own typing is not sent back

    await tabs.node.emit("ada", "typing", {"room": room["id"]})
    await tabs.event("bob", "typing", typing=True)
    await tabs.ok("ada", "send-message", {"room": room["id"], "text": "done"})  # ends it
    await tabs.event("bob", "typing", typing=False)


async def test_presence_follows_tabs(api: Api, tabs: Tabs) -> None:
    ada, bob = await two_users(api, tabs)
    room = await tabs.ok("ada", "create-room", {"name": "lobby"})
    await tabs.ok("bob", "join-room", {"room": room["id"]})
    both = [ada["user"], bob["user"]]
    await tabs.event("ada", "presence", room=room["id"], online=both)
    await tabs.node.disconnect("bob")
    await tabs.event("ada", "presence", room=room["id"], online=[ada["user"]])


async def test_private_rooms_are_by_invitation(api: Api, tabs: Tabs) -> None:
    await two_users(api, tabs)
    secret = await tabs.ok("ada", "create-room", {"name": "secret", "private": True})
    assert secret["kind"] == "private"
    assert (await tabs.ok("bob", "rooms"))["public"] == []
    assert error_code(await tabs.call("bob", "join-room", {"room": secret["id"]})) == "forbidden"
    refused = await tabs.call("bob", "send-message", {"room": secret["id"], "text": "let me in"})
    assert error_code(refused) == "forbidden"
    assert error_code(
        await tabs.call("ada", "invite", {"room": secret["id"], "user": "nobody"})
    ) == ("not_found")
    invited = await tabs.ok("ada", "invite", {"room": secret["id"], "user": "bob"})
    assert invited["user"]["name"] == "bob"
    added = await tabs.event("bob", "room-added", id=secret["id"])
    assert added[0]["members"] == 2
    sent = await tabs.ok("bob", "send-message", {"room": secret["id"], "text": "thanks"})
    await tabs.event("ada", "message", id=sent["id"])  # bob's tab was put in the room


async def test_direct_messages(api: Api, tabs: Tabs) -> None:
    ada, bob = await two_users(api, tabs)
    await tabs.open("carol", await api.signup("carol"))
    direct = await tabs.ok("ada", "direct", {"user": "bob"})
    assert (direct["kind"], direct["name"], direct["peer"]) == ("direct", "bob", bob["user"])
    seen = await tabs.event("bob", "room-added", id=direct["id"])
    assert (seen[0]["name"], seen[0]["peer"]) == ("ada", ada["user"])
    assert (await tabs.ok("bob", "direct", {"user": "ada"}))["id"] == direct["id"]
    sent = await tabs.ok("bob", "send-message", {"room": direct["id"], "text": "psst"})
    await tabs.event("ada", "message", id=sent["id"])
    assert error_code(await tabs.call("carol", "join-room", {"room": direct["id"]})) == "forbidden"
    assert error_code(await tabs.call("ada", "direct", {"user": "ada"})) == "forbidden"
    assert error_code(await tabs.call("ada", "leave-room", {"room": direct["id"]})) == "forbidden"


async def test_leaving_a_room(api: Api, tabs: Tabs) -> None:
    ada, _ = await two_users(api, tabs)
    room = await tabs.ok("ada", "create-room", {"name": "lobby"})
    await tabs.ok("bob", "join-room", {"room": room["id"]})
    assert await tabs.ok("bob", "leave-room", {"room": room["id"]}) == {"ok": True}
    await tabs.event("bob", "room-removed", room=room["id"])
    await tabs.event("ada", "presence", room=room["id"], online=[ada["user"]])
    assert (await tabs.ok("bob", "rooms"))["rooms"] == []
    refused = await tabs.call("bob", "send-message", {"room": room["id"], "text": "still here?"})
    assert error_code(refused) == "forbidden"


async def test_events_are_validated(api: Api, tabs: Tabs) -> None:
    await two_users(api, tabs)
    room = await tabs.ok("ada", "create-room", {"name": "lobby"})
    for bad in (
        {"room": room["id"], "text": ""},
        {"room": room["id"], "text": "x" * 4001},
        {"room": "lobby", "text": "hi"},
        {"room": room["id"], "text": "hi", "html": "<script>"},
    ):
        assert error_code(await tabs.call("ada", "send-message", bad)) == "validation_failed"
    assert error_code(
        await tabs.call("ada", "send-message", {"room": room["id"], "text": "  "})
    ) == ("validation_failed")
    assert error_code(await tabs.call("ada", "create-room", {"name": "<b>"})) == "validation_failed"
    assert error_code(await tabs.call("ada", "create-room", {"name": "LOBBY"})) == "name_taken"
    assert error_code(await tabs.call("ada", "join-room", {"room": 999})) == "not_found"
