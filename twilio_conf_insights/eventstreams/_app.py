"""The aiohttp.web application that receives Event Streams deliveries for a sink you give.

Order of the checks, each answered before the next is tried: a body over the limit (413), a
sink URL's Basic credentials (401), Twilio's signature over the public URL with
``bodySHA256`` (403), the body's shape (400). Then the summary records go to the sink, and
the answer is a 2xx only once the sink returned: Twilio delivers again after anything else,
so a record is acknowledged only when it is safe wherever the sink put it. A sink that
cannot commit raises :class:`SinkUnavailableError` (503, Twilio retries later); one that
takes longer than ``deadline`` is answered 503 as well, well inside the 5 seconds Twilio
waits.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import attrs
from aiohttp import web
from yarl import URL

from ..webhooks import DEFAULT_MAX_BODY_BYTES, SignatureCheck
from ..webhooks._aiohttp import verify
from ._delivery import Delivery, MalformedDeliveryError, parse_delivery

__all__ = ["STATS", "DeliveryStats", "Sink", "SinkUnavailableError", "create_app"]

_log = logging.getLogger("twilio_conf_insights.eventstreams")

#: What receives each delivery's summary records: an async callable taking the
#: :class:`Delivery`. It returns once they are committed.
Sink = Callable[[Delivery], Awaitable[None]]


class SinkUnavailableError(Exception):
    """Raised by a sink that cannot commit now (store locked, down, disk full).

    The delivery is answered 503 (with ``Retry-After`` when ``retry_after`` is given) and
    Twilio delivers it again later. Raise it only when nothing of the delivery was kept.
    """

    def __init__(
        self, message: str = "the sink cannot commit", *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_unavailable, (str(self), self.retry_after))


def _rebuild_unavailable(message: str, retry_after: float | None) -> SinkUnavailableError:
    return SinkUnavailableError(message, retry_after=retry_after)


@attrs.define
class DeliveryStats:
    """What the application received (``app[STATS]``), counted since it was created."""

    #: Deliveries answered 2xx.
    accepted: int = 0
    #: Events in those deliveries.
    events: int = 0
    #: Summary records handed to the sink.
    records: int = 0
    #: Events of other types, by type (acknowledged, not passed on).
    other: Counter[str] = attrs.field(factory=Counter)
    #: Summary events whose data was not an object (acknowledged, not passed on).
    undecodable: int = 0
    #: Deliveries refused: bad or missing signature (403).
    forged: int = 0
    #: Deliveries refused: missing or wrong Basic credentials (401).
    unauthorized: int = 0
    #: Deliveries refused: not a JSON array of objects (400).
    malformed: int = 0
    #: Deliveries refused: body over the limit (413).
    oversized: int = 0
    #: Deliveries answered 503: the sink could not commit, or not in time.
    unavailable: int = 0


#: Where the application keeps its :class:`DeliveryStats`.
STATS = web.AppKey("eventstreams_stats", DeliveryStats)


def _basic_credentials(public_url: str | None) -> str | None:
    """The ``Authorization`` value Twilio sends for a sink URL with user info."""
    if public_url is None:
        return None
    url = URL(public_url, encoded=True)
    if url.user is None:
        return None
    return aiohttp.encode_basic_auth(url.user, url.password or "")


def create_app(
    sink: Sink,
    *,
    auth_token: str | None,
    public_url: str | None = None,
    path: str = "/events",
    shared_keys: Mapping[str, str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    deadline: float = 4.0,
) -> web.Application:
    """An application receiving Event Streams deliveries at ``POST path``.

    ``auth_token`` (and ``shared_keys``, for a Webhook Rule with a SharedKey) check
    Twilio's signature. ``public_url`` is where Twilio reaches the application's root, as
    the sink's destination has it without the path (``https://hooks.example.com``, or
    ``https://user:pass@hooks.example.com`` for a sink with Basic credentials, which are
    then required); without it the request's own URL is used. Mount the application with
    ``add_subapp`` if you like; ``public_url`` then includes nothing of the prefix, since
    the path the application receives does.

    Each accepted delivery's records go to ``sink`` (see :data:`Sink`); a delivery without
    records (only other event types) is acknowledged without calling it.
    """
    if not (deadline > 0 and math.isfinite(deadline)):
        raise ValueError(f"deadline must be a positive number of seconds, got {deadline!r}")
    check = SignatureCheck(
        auth_token=auth_token,
        public_url=public_url,
        shared_keys=shared_keys,
        max_body_bytes=max_body_bytes,
    )
    credentials = _basic_credentials(public_url)
    stats = DeliveryStats()

    async def receive(request: web.Request) -> web.StreamResponse:
        if credentials is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode("utf-8"), credentials.encode("utf-8")):
                stats.unauthorized += 1
                raise web.HTTPUnauthorized(headers={"WWW-Authenticate": 'Basic realm="events"'})
        try:
            verified = await verify(check, request)
        except web.HTTPRequestEntityTooLarge:
            stats.oversized += 1
            raise
        except web.HTTPException:
            stats.forged += 1
            raise
        try:
            delivery = parse_delivery(verified.body)
        except MalformedDeliveryError as error:
            stats.malformed += 1
            raise web.HTTPBadRequest(text=str(error)) from None
        if delivery.records:
            try:
                async with asyncio.timeout(deadline):
                    await sink(delivery)
            except SinkUnavailableError as error:
                stats.unavailable += 1
                retry = {} if error.retry_after is None else {"Retry-After": _seconds(error)}
                raise web.HTTPServiceUnavailable(text="try again later", headers=retry) from None
            except TimeoutError:
                stats.unavailable += 1
                _log.warning("the sink took over %gs; answered 503", deadline)
                raise web.HTTPServiceUnavailable(text="try again later") from None
        stats.accepted += 1
        stats.events += len(delivery.events)
        stats.records += len(delivery.records)
        stats.other.update(event.type or "" for event in delivery.other)
        stats.undecodable += len(delivery.undecodable)
        return web.Response(status=204)

    # The body limit applies while aiohttp reads, too (413 without buffering the excess).
    app = web.Application(client_max_size=max_body_bytes)
    app[STATS] = stats
    app.router.add_post(path, receive)
    return app


def _seconds(error: SinkUnavailableError) -> str:
    return str(max(1, math.ceil(error.retry_after or 0)))
