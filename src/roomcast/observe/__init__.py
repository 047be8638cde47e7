"""Watching a running server: metrics (``observe.metrics``, the ``metrics`` extra).

Nothing here steers the server; the server never imports this package.
"""

from __future__ import annotations
