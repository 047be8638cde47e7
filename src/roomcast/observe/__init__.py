"""Watching a running server from above it: structured logs (``logs``) and Prometheus
metrics (``metrics``, the ``metrics`` extra).

Nothing here steers the server; the server never imports this package.
"""

from __future__ import annotations
