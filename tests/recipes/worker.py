"""A background worker: Twilio's conference-end callback queues the conference, a fixed pool
of tasks waits for its summary to be complete and stores it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path

from twilio_conf_insights import ConferenceSummary, InsightsClient, WaitTimeoutError
from twilio_conf_insights.webhooks import SignatureCheck

log = logging.getLogger("conference_worker")

Store = Callable[[ConferenceSummary], Awaitable[None]]
CONFERENCE_SID = re.compile(r"CF[0-9a-f]{32}")


class SummaryWorkers:
    """Conferences to store, and ``workers`` tasks that wait for their summaries.

    ``check`` verifies that callbacks come from Twilio (see ``callback_status``). The queue
    holds at most ``queue_size`` conferences and each only once. A conference Insights still
    does not know ``unknown_after`` seconds after its callback (404) is given up; one whose
    summary is not complete after ``timeout`` seconds too. Both are logged.
    """

    def __init__(
        self,
        store: Store,
        check: SignatureCheck,
        *,
        workers: int = 4,
        queue_size: int = 1000,
        timeout: float = 1800.0,
        unknown_after: float = 120.0,
        poll_interval: float = 15.0,
    ) -> None:
        if not 0 < unknown_after < timeout:
            raise ValueError("need 0 < unknown_after < timeout")
        self.store = store
        self.check = check
        self.workers = workers
        self.timeout = timeout
        self.unknown_after = unknown_after
        self.poll_interval = poll_interval
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self.pending: set[str] = set()  # queued or being waited for: each conference once
        self.account_sid: str | None = None

    def callback_status(self, form: Mapping[str, str]) -> int:
        """The status for a conference status callback whose signature was checked."""
        if self.account_sid is None or form.get("AccountSid") != self.account_sid:
            return 403  # signed by Twilio, but for another account: not ours to store
        if form.get("StatusCallbackEvent") != "conference-end":
            return 204
        sid = form.get("ConferenceSid", "")
        if not CONFERENCE_SID.fullmatch(sid):
            return 400
        if sid in self.pending:
            return 204  # already queued: Twilio (or a retry) sent it twice
        try:
            self.queue.put_nowait(sid)
        except asyncio.QueueFull:
            log.warning("%s: not queued (queue full); a sync will fetch it", sid)
            return 503
        self.pending.add(sid)
        # At once: the summary takes minutes to complete, and Twilio does not wait that long.
        return 204

    @contextlib.asynccontextmanager
    async def running(self, client: InsightsClient) -> AsyncIterator[None]:
        """Run the workers with ``client`` until the block ends; then say what was not stored."""
        self.account_sid = client.account_sid
        tasks = [asyncio.create_task(self._work(client)) for _ in range(self.workers)]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            while not self.queue.empty():  # the queue lives in memory: say what it still held
                sid = self.queue.get_nowait()
                log.warning("%s: not stored (shutting down); a sync will fetch it", sid)

    async def _work(self, client: InsightsClient) -> None:
        """Wait for each conference's complete summary and store it, until cancelled."""
        while True:
            sid = await self.queue.get()
            try:
                summary = await self._complete_summary(client, sid)
                if summary is not None:
                    await self.store(summary)
            except asyncio.CancelledError:
                log.warning("%s: not stored (shutting down); a sync will fetch it", sid)
                raise
            except TimeoutError:
                log.warning("%s: summary not complete after %gs; not stored", sid, self.timeout)
            except Exception:
                log.exception("%s: not stored", sid)  # and on to the next conference
            finally:
                self.pending.discard(sid)
                self.queue.task_done()

    async def _complete_summary(self, client: InsightsClient, sid: str) -> ConferenceSummary | None:
        wait = client.conferences.wait_until_complete
        try:
            return await wait(sid, timeout=self.unknown_after, poll_interval=self.poll_interval)
        except WaitTimeoutError as error:
            if error.last_state is None:  # never seen: Insights does not know it (404)
                log.warning("%s: still not found after %gs; given up", sid, self.unknown_after)
                return None
        # Insights knows it and is still aggregating: wait for the rest of the timeout.
        remaining = self.timeout - self.unknown_after
        return await wait(sid, timeout=remaining, poll_interval=self.poll_interval)


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
