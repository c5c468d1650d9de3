"""The ``listen`` server: the store, its sink, the checking application, the socket.

:func:`twilio_conf_insights.eventstreams.create_app` over a
:class:`~twilio_conf_insights.eventstreams.StoreSink`: every delivery is checked (413, 401,
403, 400, in that order), its summaries are written into the tables ``sync`` writes (one
transaction, shared with whatever arrived meanwhile), and it is answered 2xx only once that
transaction committed, 503 when the store could not commit. Imported only when ``listen``
runs (aiohttp.web, the store).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import attrs
from aiohttp import web

from .._urls import display_url, url_scheme
from ..eventstreams import STATS, Delivery, DeliveryStats, StoreSink, create_app
from ..sync import Store, open_store
from ._exit import EXIT_OK
from ._runtime import Runtime
from ._signals import stop_requested

__all__ = ["BUSY_TIMEOUT", "Served", "listen_until_stopped", "ready_line", "serve"]

#: Seconds a SQLite write waits for another writer before the delivery is answered 503:
#: well inside the application's deadline (4 s), itself inside Twilio's 5 s.
BUSY_TIMEOUT = 2.0


@attrs.define
class Served:
    """A listener serving: where, and what it received so far."""

    url: str
    deliveries: DeliveryStats
    sink: StoreSink

    def line(self) -> str:
        """What the listener received, in one line (the last line ``listen`` prints)."""
        got, wrote = self.deliveries, self.sink.stats
        changes = wrote.changes
        return (
            f"{got.accepted} deliveries acknowledged ({got.events} events: {got.records} "
            f"summaries, {sum(got.other.values())} of other types, "
            f"{got.undecodable + wrote.unstorable} without a conference); "
            f"{wrote.records} summaries committed in {wrote.transactions} transactions "
            f"(conferences: {changes.new} new, {changes.updated} updated); "
            f"refused: {got.forged} forged, {got.unauthorized} unauthorized, "
            f"{got.malformed} malformed, {got.oversized} oversized; "
            f"{got.unavailable} answered 503"
        )


@contextlib.asynccontextmanager
async def serve(
    store: Store,
    *,
    token: str,
    path: str,
    public_base: str | None,
    host: str,
    port: int,
    then: Callable[[Delivery], Awaitable[None]] | None = None,
) -> AsyncIterator[Served]:
    """Serve a listener writing into ``store`` until the block ends.

    ``public_base`` is the public sink URL without ``path`` (``None``: each request's own
    URL is checked); ``then`` is awaited after each delivery is committed. On the way out,
    requests in progress are answered (the write in flight may finish), then the sink
    stops; the store stays open (it is the caller's).
    """
    async with StoreSink(store) as sink:

        async def committed_then(delivery: Delivery) -> None:
            await sink(delivery)
            if then is not None:
                await then(delivery)

        app = create_app(
            sink if then is None else committed_then,
            auth_token=token,
            public_url=public_base,
            path=path,
        )
        # A caller who hangs up (Twilio waits 5 s) cancels its handler: nothing waits in vain.
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
            bound_host, bound_port = runner.addresses[0][:2]
            shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
            yield Served(f"http://{shown_host}:{bound_port}{path}", app[STATS], sink)
        finally:
            await runner.cleanup()


def ready_line(served: Served, signed: str, db: str) -> str:
    """The line saying the listener takes deliveries from now on (``signed``: the URL checked)."""
    store = display_url(db) if url_scheme(db) is not None else db  # a URL may hold a password
    return f"listen: ready on {served.url}, signatures checked for {signed}, store {store}"


async def listen_until_stopped(
    runtime: Runtime,
    *,
    db: str,
    token: str,
    path: str,
    public_base: str | None,
    signed: str,
    host: str,
    port: int,
) -> int:
    """Serve until SIGINT or SIGTERM; then print what was received (exit status 0)."""
    store = await open_store(db, busy_timeout=BUSY_TIMEOUT)
    async with contextlib.aclosing(store):
        with stop_requested() as stop:
            async with serve(
                store, token=token, path=path, public_base=public_base, host=host, port=port
            ) as served:
                print(ready_line(served, signed, db), file=runtime.stderr, flush=True)
                await stop.wait()
    runtime.stdout.write(f"listen: {served.line()}\n")
    return EXIT_OK
