"""Guard rails on incoming events: what a handler is wrapped in, and what a refusal does.

A handler with nothing to check is registered as it is, and the dispatch calls it directly.
One with limits or annotations is wrapped once, at registration, in a closure that spends
rate tokens, checks the packet's size and depth, validates the arguments, then calls it; a
check that fails raises ``EventRejected`` and the handler does not run. ``Guard`` holds
the server-wide part: global limits, the clock, the repeated-violation bucket, the counts
and the ``on_rejected`` hooks.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import EventRejected
from ..handlers import PLAIN_RESULTS, is_awaitable
from ..rejections import Code
from .limits import (
    Limiter,
    RateLimit,
    RateLimits,
    deeper_than,
    rate_limits,
    take_all,
    too_deep,
    too_large,
)
from .validation import ArgsValidator, Param, jsonable

if TYPE_CHECKING:
    from .socket import Socket

logger = logging.getLogger("roomcast.guard")

Handler = Callable[..., Any]
RejectedHook = Callable[["Socket", str, EventRejected], Any]
"""``hook(socket, event, rejection)``: called for every refused event."""

STRIKES = frozenset({Code.RATE_LIMITED.value, Code.TOO_LARGE.value})
"""The rejections that count towards ``max_violations``."""


@dataclass(slots=True)
class Bounds:
    """Limits that apply to every event of a scope (a namespace, the server)."""

    limiters: tuple[Limiter, ...] = ()
    max_bytes: int | None = None
    max_depth: int | None = None


@dataclass(slots=True)
class HandlerSpec:
    """A handler as registered, with what it checks (kept for recompiling and for the
    schema export)."""

    handler: Handler
    params: tuple[Param, ...] = ()
    returns: Any = None
    validator: ArgsValidator | None = None
    dump: bool = False
    arity: int | None = None
    """How many event arguments it takes when that number is fixed (no defaults, no
    ``*args``); None otherwise."""
    bounds: Bounds = field(default_factory=Bounds)


class Guard:
    """The server's guard rails (``Server.guard``).

    Args:
        rate_limit: limits on every event of every namespace (per socket by default).
        max_event_bytes, max_event_depth: the default payload limits of every event.
        max_violations: a socket refused for rate or size this many times within
            ``violation_window`` seconds (a bucket of that size refilled at that pace) is
            disconnected (after ``rc:rejected`` tells it
            why); None: never.
        notify_rejections: tell a client about a rejection it asked no ack for, with the
            event ``rc:rejected``.
    """

    __slots__ = ("bounds", "clock", "counts", "hooks", "measure", "notify", "violations")

    def __init__(
        self,
        *,
        rate_limit: RateLimits = None,
        max_event_bytes: int | None = None,
        max_event_depth: int | None = None,
        max_violations: int | None = 20,
        violation_window: float = 10.0,
        notify_rejections: bool = False,
    ) -> None:
        self.clock: Callable[[], float] = time.monotonic
        """Where limits read the time (monotonic seconds)."""
        self.bounds = Bounds(
            tuple(Limiter(limit) for limit in rate_limits(rate_limit)),
            max_event_bytes,
            max_event_depth,
        )
        self.violations: Limiter | None = None
        if max_violations:
            self.violations = Limiter(
                RateLimit(max_violations / violation_window, burst=max_violations)
            )
        self.notify = notify_rejections
        self.counts: Counter[str] = Counter()
        """Refused events by code, and ``no_handler`` for events nobody handles."""
        self.hooks: list[RejectedHook] = []
        self.measure = False
        """Whether some event has a byte limit: the server then records each packet's size."""

    def unhandled(self, socket: Socket, event: str) -> None:
        self.counts["no_handler"] += 1
        logger.debug("%s: no handler for %r (not acked)", socket, event)

    def rejected(self, socket: Socket, event: str, rejection: EventRejected) -> bool:
        """Count, log and report a refused event; whether ``socket`` has now been refused
        too often (``max_violations``) and must be disconnected."""
        self.counts[rejection.code] += 1
        logger.debug("%s: %r refused: %s", socket, event, rejection)
        for hook in self.hooks:
            try:
                result = hook(socket, event, rejection)
                if is_awaitable(result):
                    socket.nsp.server.spawn(result)
            except Exception:
                logger.exception("error in an on_rejected hook")
        violations = self.violations
        if violations is None or rejection.code not in STRIKES:
            return False
        return violations.spend_last(socket, self.clock())


def failure(exc: BaseException, socket: Socket, event: str) -> EventRejected:
    """What a handler's exception means for the client: itself when it is an
    ``EventRejected``; ``validation_failed`` when the call itself failed (the wrong number
    of arguments: no handler ran); else ``handler_error`` (the traceback logged, never
    sent)."""
    if isinstance(exc, EventRejected):
        return exc
    if isinstance(exc, TypeError) and _raised_by_the_call(exc):
        logger.debug("%s: %r with the wrong number of arguments: %s", socket, event, exc)
        return EventRejected(
            Code.VALIDATION_FAILED,
            "wrong number of arguments",
            [{"loc": [], "msg": "wrong number of arguments", "type": "arguments"}],
        )
    logger.error(
        "error in the handler of %r on %s", event, socket, exc_info=exc, extra=socket.log_extra
    )
    return EventRejected(Code.HANDLER_ERROR, "the handler failed")


_DISPATCH_FILES = frozenset({__file__, __file__.replace("guard.py", "socket.py")})


def _raised_by_the_call(exc: TypeError) -> bool:
    """Whether ``exc`` came from calling the handler (its arguments did not bind), not
    from inside it: the innermost frame of its traceback is the dispatch's or a wrapper's."""
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename in _DISPATCH_FILES


def looks_like_error() -> EventRejected:
    logger.error("a handler returned an object with the key '_rc_error': refused as an error")
    return EventRejected(Code.HANDLER_ERROR, "the handler returned a reserved value")


def unencodable(exc: Exception, socket: Socket, event: str) -> EventRejected:
    """A handler's result that the parser cannot encode: data nested deeper than the
    encoder goes (JSON a client sent, read up to 1,024 levels deep, echoed back: orjson
    writes 254 at most), or a value JSON has no form for. One line in the log, no
    traceback: the value may well be the client's own."""
    logger.warning(
        "the ack of %r on %s could not be encoded (%s: %s): answered handler_error",
        event,
        socket,
        type(exc).__name__,
        exc,
        extra=socket.log_extra,
    )
    return EventRejected(Code.HANDLER_ERROR, "the handler's result could not be encoded")


def guarded(
    spec: HandlerSpec, bounds: Bounds, guard: Guard, *, first: bool
) -> tuple[Handler, bool]:
    """``spec``'s handler wrapped in its checks (the scope's limits too, for the first
    handler of an event); the handler itself when there is nothing to check. Also whether
    the packet size is needed."""
    handler = spec.handler
    limiters: tuple[Limiter, ...] = spec.bounds.limiters + (bounds.limiters if first else ())
    max_bytes = _first(spec.bounds.max_bytes, bounds.max_bytes)
    max_depth = _first(spec.bounds.max_depth, bounds.max_depth)
    validate = spec.validator.validate if spec.validator is not None else None
    dump = spec.dump
    if not limiters and max_bytes is None and max_depth is None and validate is None:
        return (_dumping(handler) if dump else handler), False
    if len(limiters) == 1 and max_bytes is None and max_depth is None and validate is None:
        return _limited(spec, limiters[0], guard), False
    one = spec.validator.one() if spec.validator is not None else None
    if one is not None and not limiters and max_bytes is None and max_depth is None:
        return _named(_validated_one(handler, one, dump), handler), False

    def checked(socket: Socket, *args: Any) -> Any:
        if limiters:
            take_all(limiters, socket, guard.clock())
        if max_bytes is not None:
            size = socket.packet_bytes
            if size > max_bytes:
                raise too_large(size, max_bytes)
        if max_depth is not None and deeper_than(args, max_depth):
            raise too_deep(max_depth)
        if validate is not None:
            args = validate(args)  # type: ignore[assignment]
        result = handler(socket, *args)
        return _dumped(result) if dump else result

    return _named(checked, handler), max_bytes is not None


def _limited(spec: HandlerSpec, limiter: Limiter, guard: Guard) -> Handler:
    """One rate limit and nothing else: the cheapest wrapper (the bucket's step inlined for
    a per-socket limit, and no ``*args`` forwarding for a handler of 0 to 2 arguments)."""
    handler, tats = spec.handler, limiter.tats
    interval, tolerance = limiter.interval, limiter.tolerance
    get, clock = tats.get, guard.clock  # locals: the wrappers below run for every event

    if not limiter.per_socket:

        def check_key(socket: Socket) -> None:
            wait = limiter.take(socket, guard.clock())
            if wait:
                raise limiter.rejection(wait)

        return _named(_bind(check_key, handler, spec.arity, spec.dump), handler)

    if spec.arity == 1 and not spec.dump:  # the common case: everything inlined

        def one(socket: Socket, arg: Any) -> Any:
            now = clock()
            key = socket.id
            try:  # a subscript costs less than .get() when the bucket exists (the rule)
                tat = tats[key]
            except KeyError:
                if limiter.grows():
                    limiter.prune(now)
                tat = now
            if tat > now:
                if tat - now > tolerance:
                    raise limiter.rejection(tat - tolerance - now)
                tats[key] = tat + interval
            else:
                tats[key] = now + interval
            return handler(socket, arg)

        return _named(one, handler)

    def check(socket: Socket) -> None:  # take_key, inlined
        now = clock()
        key = socket.id
        tat = get(key)
        if tat is None:
            if limiter.grows():
                limiter.prune(now)
        elif tat > now:
            if tat - now > tolerance:
                raise limiter.rejection(tat - tolerance - now)
            tats[key] = tat + interval
            return
        tats[key] = now + interval

    return _named(_bind(check, handler, spec.arity, spec.dump), handler)


def _validated_one(handler: Handler, validate: Callable[[Any], Any], dump: bool) -> Handler:
    """A handler of one checked argument, and nothing else to check."""
    if dump:

        def validated_dumped(socket: Socket, arg: Any) -> Any:
            return _dumped(handler(socket, validate(arg)))

        return validated_dumped

    def validated(socket: Socket, arg: Any) -> Any:
        return handler(socket, validate(arg))

    return validated


def _bind(
    check: Callable[[Socket], None], handler: Handler, arity: int | None, dump: bool
) -> Handler:
    """``check(socket)``, then the handler. A handler of a fixed 0, 1 or 2 arguments gets a
    wrapper of the same shape: forwarding ``*args`` costs more than the check itself. (An
    event with another number of arguments then fails at the call, before the check:
    ``failure`` reports it as ``validation_failed``, and no handler ran.)"""
    if dump:

        def dumping(socket: Socket, *args: Any) -> Any:
            check(socket)
            return _dumped(handler(socket, *args))

        return dumping
    if arity == 1:

        def one(socket: Socket, arg: Any) -> Any:
            check(socket)
            return handler(socket, arg)

        return one
    if arity == 0:

        def none(socket: Socket) -> Any:
            check(socket)
            return handler(socket)

        return none
    if arity == 2:

        def two(socket: Socket, first: Any, second: Any) -> Any:
            check(socket)
            return handler(socket, first, second)

        return two

    def any_number(socket: Socket, *args: Any) -> Any:
        check(socket)
        return handler(socket, *args)

    return any_number


def _dumping(handler: Handler) -> Handler:
    def dumping(socket: Socket, *args: Any) -> Any:
        return _dumped(handler(socket, *args))

    return _named(dumping, handler)


def _dumped(result: Any) -> Any:
    if type(result) in PLAIN_RESULTS:
        return result
    if is_awaitable(result):
        return _dump_later(result)
    return jsonable(result)


async def _dump_later(pending: Any) -> Any:
    return jsonable(await pending)


def _named(wrapper: Handler, handler: Handler) -> Handler:
    wrapper.__wrapped__ = handler  # type: ignore[attr-defined]
    wrapper.__qualname__ = getattr(handler, "__qualname__", wrapper.__qualname__)
    return wrapper


def _first(*values: int | None) -> int | None:
    for value in values:
        if value is not None:
            return value
    return None


def bounds_of(
    rate: RateLimits,
    burst: int | None,
    per: Any,
    max_bytes: int | None,
    max_depth: int | None,
) -> Bounds:
    """The ``Bounds`` that ``on(...)``'s or ``limit(...)``'s keywords describe."""
    limits: Sequence[RateLimit] = rate_limits(rate, burst, per)
    return Bounds(tuple(Limiter(limit) for limit in limits), max_bytes, max_depth)
