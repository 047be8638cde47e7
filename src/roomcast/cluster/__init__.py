"""Several cores and several machines: ``roomcast serve app:io --workers N [--redis URL]``.

- ``supervisor``: the main process; makes the sockets, forks and watches the processes.
- ``worker``: a worker (the app on the shared port, a private socket, the cluster adapter)
  and the local hub (broadcasts between the workers of a machine when there is no Redis).
- ``routing``: session ids name their worker; a request that lands elsewhere is served by
  that worker (long-polling forwarded, WebSocket piped): no sticky sessions.
- ``options``: the options, and loading ``module:attribute``.
"""

from __future__ import annotations

from .options import AppError, ServeOptions
from .supervisor import ServeError, serve

__all__ = ["AppError", "ServeError", "ServeOptions", "serve"]
