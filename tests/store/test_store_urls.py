"""``from_url``: the scheme picks the store, the query string its options."""

from __future__ import annotations

import pytest

from roomcast.store import MemoryStore, Retention, SqliteStore, from_url
from roomcast.store.redis import RedisStore


def test_memory() -> None:
    store = from_url("memory://?max_count=5&max_age=30")
    assert isinstance(store, MemoryStore)
    assert store.rules.default == Retention(max_count=5, max_age=30.0)


def test_sqlite_relative_and_absolute() -> None:
    relative = from_url("sqlite:///var/roomcast.db?synchronous=normal&busy_timeout=2")
    assert isinstance(relative, SqliteStore)
    assert relative.path == "var/roomcast.db"
    assert relative.synchronous == "normal"
    assert relative.busy_timeout == 2.0
    absolute = from_url("sqlite:////srv/data/roomcast.db")
    assert isinstance(absolute, SqliteStore)
    assert absolute.path == "/srv/data/roomcast.db"
    assert absolute.rules.default == Retention()


def test_redis_options() -> None:
    store = from_url("redis://127.0.0.1:6379/2?stream=chat&maxlen=500&approximate=0")
    assert isinstance(store, RedisStore)
    assert store.url == "redis://127.0.0.1:6379/2"
    assert store.stream == "chat"
    assert store.approximate is False
    assert store.rules.default.max_count == 500


def test_keywords_win_over_the_query() -> None:
    store = from_url("memory://?max_count=5", retention=Retention(max_count=9))
    assert store.rules.default.max_count == 9


@pytest.mark.parametrize(
    "url",
    ["postgres://db/x", "sqlite://host/x.db", "sqlite://", "nothing", "memory://?max_count=x"],
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"store|SQLite"):
        from_url(url)


def test_unknown_option() -> None:
    with pytest.raises(TypeError):
        from_url("memory://?colour=blue")
