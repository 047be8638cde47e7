"""The chat and live-notification service: ``roomcast chat``.

Accounts (argon2 passwords, JWT sessions), public and private rooms and direct messages,
stored messages with history, edits, deletes and unread counts, typing and presence, and
notifications per user (``POST /api/notify``), on roomcast's public API only. The protocol
is in docs/chat-protocol.md; the data in one folder (``config``). ``app.create_server``
builds the server (it needs the ``chat`` extra: argon2-cffi and PyJWT).
"""
