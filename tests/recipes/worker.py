"""A background worker: Twilio's conference-end callback wakes it, it waits for the summary
to be complete and stores it."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from aiohttp import web

from twilio_conf_insights import ConferenceSummary, InsightsClient

log = logging.getLogger("conference_worker")

Store = Callable[[ConferenceSummary], Awaitable[None]]
QUEUE = web.AppKey("queue", asyncio.Queue[str])
CONFERENCE_SID = re.compile(r"CF[0-9a-f]{32}")


def create_app(
    store: Store,
    make_client: Callable[[], InsightsClient] = InsightsClient.from_env,
    *,
    workers: int = 4,
    timeout: float = 1800.0,
    poll_interval: float = 15.0,
) -> web.Application:
    """The callback endpoint, and ``workers`` tasks that wait for summaries and store them."""

    async def run_workers(app: web.Application) -> AsyncIterator[None]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        app[QUEUE] = queue
        async with make_client() as client:
            tasks = [
                asyncio.create_task(work(client, queue, store, timeout, poll_interval))
                for _ in range(workers)
            ]
            yield
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        while not queue.empty():  # the queue lives in memory: say what it still held
            log.warning("%s: not stored (shutting down); a sync will fetch it", queue.get_nowait())

    app = web.Application()
    app.cleanup_ctx.append(run_workers)
    app.add_routes([web.post("/twilio/conference-events", conference_event)])
    return app


async def conference_event(request: web.Request) -> web.Response:
    """POST /twilio/conference-events: the conference's statusCallback."""
    form = await request.post()
    if form.get("StatusCallbackEvent") == "conference-end":
        sid = form.get("ConferenceSid")
        if not isinstance(sid, str) or not CONFERENCE_SID.fullmatch(sid):
            raise web.HTTPBadRequest(text="ConferenceSid is missing or not a conference SID")
        request.app[QUEUE].put_nowait(sid)
    # At once: the summary takes minutes to complete, and Twilio does not wait that long.
    return web.Response(status=204)


async def work(
    client: InsightsClient,
    queue: asyncio.Queue[str],
    store: Store,
    give_up_after: float,
    poll_interval: float,
) -> None:
    """Wait for each conference's complete summary and store it, until cancelled."""
    while True:
        sid = await queue.get()
        try:
            summary = await client.conferences.wait_until_complete(
                sid, timeout=give_up_after, poll_interval=poll_interval
            )
            await store(summary)
        except asyncio.CancelledError:
            log.warning("%s: not stored (shutting down); a sync will fetch it", sid)
            raise
        except TimeoutError:
            log.warning("%s: summary not complete after %gs; not stored", sid, give_up_after)
        except Exception:
            log.exception("%s: not stored", sid)  # and on to the next conference
        finally:
            queue.task_done()


def json_files(directory: Path) -> Store:
    """A store writing each summary, as the API sent it, to ``directory/CF….json``."""
    directory.mkdir(parents=True, exist_ok=True)

    def write(name: str, text: str) -> None:
        partial = directory / f"{name}.tmp"
        partial.write_text(text, encoding="utf-8")
        partial.replace(directory / name)  # readers never see half a file

    async def save(summary: ConferenceSummary) -> None:
        name = f"{summary.conference_sid}.json"
        await asyncio.to_thread(write, name, json.dumps(summary.to_dict()))

    return save


def main() -> None:
    """Serve the callback on port 8080 until Ctrl-C; summaries go to ./summaries/."""
    logging.basicConfig(level=logging.INFO)
    web.run_app(create_app(json_files(Path("summaries"))), port=8080)


if __name__ == "__main__":
    main()
