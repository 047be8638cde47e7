"""Authentication helpers: ``jwt_auth`` (``roomcast[jwt]``), a namespace middleware that
checks JSON Web Tokens (see ``roomcast.auth.jwt``)."""

from __future__ import annotations
