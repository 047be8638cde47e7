"""Services built on roomcast's public API (``roomcast chat``)."""
