"""The client facade: configuration, credentials and the resources."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self, Unpack

import aiohttp

from ._admission import AdmissionTransport
from ._body import DEFAULT_MAX_BUFFERED_BYTES, BodyBudget, BufferStats
from ._bulk import map_bounded
from ._calls import Calls
from ._closing import ClosedOnExit
from ._connection import Connection
from ._credentials import Credentials
from ._decoding import Decoder
from ._errors import ConfigurationError, DecodeError
from ._events import EventDispatcher, EventHook, ThrottleChanged
from ._limiter import AdaptiveLimiter, Limiter, LimiterStats, ThrottlePolicy
from ._logging import configure_from_env
from ._models import ConferenceSummary, ParticipantSummary
from ._options import DEFAULT_MAX_BODY_BYTES, DEFAULT_TIMEOUT, RequestOptions
from ._pipeline import Pipeline, Scope
from ._proxy import Proxies
from ._resources import Conferences, Participants, ParticipantSummaries
from ._resources._context import ResourceContext
from ._resources.conferences import ConferenceFilters
from ._results import ConferenceReport
from ._retry import RetryPolicy
from ._retrying import RetryTransport
from ._transport import SendTransport
from ._urls import base_url, origin_of, twilio_host_url
from ._validation import is_sid

if TYPE_CHECKING:
    from .sync import Store, SyncProgress, SyncSummary

__all__ = ["InsightsClient"]

ENV_REGION = "TWILIO_REGION"
ENV_EDGE = "TWILIO_EDGE"
#: Base-URL overrides (a proxy, the bundled fake server); ``http://`` only for loopback.
ENV_INSIGHTS_BASE_URL = "TWILIO_INSIGHTS_BASE_URL"
ENV_API_BASE_URL = "TWILIO_API_BASE_URL"

#: The limiter's size when neither ``max_concurrency`` nor ``limiter`` is given.
DEFAULT_MAX_CONCURRENCY = 32

#: Constructor options read from the environment by :meth:`InsightsClient.from_env`.
_ENV_OPTIONS = {
    "region": ENV_REGION,
    "edge": ENV_EDGE,
    "insights_base_url": ENV_INSIGHTS_BASE_URL,
    "api_base_url": ENV_API_BASE_URL,
}


class InsightsClient(ClosedOnExit):
    """An asyncio client for Twilio Conference Insights and live conference participants.

    Use it as an async context manager, which closes the connection pool it opened::

        async with InsightsClient(account_sid="AC…", auth_token="…") as client:
            summary = await client.conferences.fetch("CF…")

    Args:
        account_sid: The account (``AC…``). Also the default account of 2010 API calls.
        auth_token: The account's auth token; or use ``api_key`` + ``api_secret``.
        api_key: An API key SID (``SK…``) for API-key auth.
        api_secret: The API key's secret.
        region: Twilio region (``"us1"``, ``"ie1"``, ...): hosts become
            ``{product}.{edge}.{region}.twilio.com``.
        edge: Twilio edge location (``"dublin"``, ``"sydney"``, ...).
        insights_base_url: Override of ``https://insights.twilio.com`` (tests, proxies).
            ``http://`` is accepted for loopback hosts only.
        api_base_url: Override of ``https://api.twilio.com``, with the same rules.
        session: An ``aiohttp.ClientSession`` to use; the client then never closes it. Its
            own ``User-Agent`` header is kept, ours appended.
        max_concurrency: Requests in flight at once, across every call of this client
            (default 32). Also the size of the connection pool and the default width of
            bulk calls.
        rate_limit: At most this many requests started per second (``None``: no cap).
        retry: Which failures are retried, how long to wait, when to give up.
        timeout: Seconds one attempt may take, from sending to the end of the body.
        throttle: How the whole client slows down when Twilio throttles it.
        limiter: The :class:`~twilio_conf_insights.Limiter` every request takes a slot of,
            instead of one built from ``max_concurrency``, ``rate_limit`` and ``throttle``
            (which it then replaces): e.g. one :class:`AdaptiveLimiter` shared by several
            clients, or a budget shared across processes.
        hooks: Callables receiving :mod:`~twilio_conf_insights._events` as things happen.
        max_body_bytes: Largest response body accepted (after decompression).
        max_buffered_bytes: Most bytes of response bodies held at once by the whole client
            (after decompression); a response that would exceed it fails with a retryable
            ``TransportError(kind="budget")``. Default 256 MiB.
        strict: Raise :class:`DecodeError` when a value does not fit its documented type,
            instead of reading it as ``None`` and listing it in the record's ``problems``.
        proxy: A forward proxy every request goes through (``http://host:port``, with
            ``user:password@`` if it needs them; the password is kept out of every message).
        trust_env: Without ``proxy``, take the proxy from ``HTTPS_PROXY`` / ``HTTP_PROXY``
            and ``NO_PROXY``, as curl and httpx do (``False``: ignore them).
        user_agent_extensions: Product tokens appended to the User-Agent, e.g.
            ``("myapp/1.2",)``, so Twilio and your proxies can tell which app calls.

    ``client.with_options(timeout=…, retry=…)`` gives a view of the client with other
    per-call options over the same connection, limiter and hooks.

    """

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        *,
        api_key: str | None = None,
        api_secret: str | None = None,
        region: str | None = None,
        edge: str | None = None,
        insights_base_url: str | None = None,
        api_base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        max_concurrency: int | None = None,
        rate_limit: float | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        throttle: ThrottlePolicy | None = None,
        limiter: Limiter | None = None,
        hooks: Sequence[EventHook] = (),
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        strict: bool = False,
        proxy: str | None = None,
        trust_env: bool = True,
        user_agent_extensions: Sequence[str] = (),
    ) -> None:
        configure_from_env()
        self._credentials = Credentials.resolve(account_sid, auth_token, api_key, api_secret)
        insights = (
            base_url(insights_base_url, name="insights_base_url")
            if insights_base_url is not None
            else twilio_host_url("insights", region=region, edge=edge)
        )
        api = (
            base_url(api_base_url, name="api_base_url")
            if api_base_url is not None
            else twilio_host_url("api", region=region, edge=edge)
        )
        options = RequestOptions(
            timeout=timeout,
            retry=retry if retry is not None else RetryPolicy(),
            max_body_bytes=max_body_bytes,
        )
        limiter = _limiter(limiter, max_concurrency, rate_limit, throttle)
        origins = {origin_of(insights), origin_of(api)}
        self._connection = Connection(
            credentials=self._credentials,
            origins=origins,
            proxies=Proxies(origins, proxy=proxy, trust_env=trust_env),
            pool_size=limiter.max_concurrency,
            session=session,
            user_agent_extensions=user_agent_extensions,
        )
        self._budget = BodyBudget(max_buffered_bytes)
        self._events = EventDispatcher(hooks)
        self._limiter = limiter
        if hooks:
            limiter.add_listener(self._on_limiter_change)
        pipeline = Pipeline(
            RetryTransport(
                AdmissionTransport(SendTransport(self._connection, self._budget), limiter)
            )
        )
        calls = Calls(
            pipeline=pipeline,
            connection=self._connection,
            limiter=limiter,
            events=self._events,
            options=options,
            scope=Scope(closed=lambda: self._connection.closed),
        )
        self._attach(
            ResourceContext(
                calls=calls,
                insights_url=insights,
                api_url=api,
                account_sid=self._credentials.account_sid,
                decoder=Decoder(strict=strict, on_problems=self._events.emit if hooks else None),
            )
        )
        self._parent: InsightsClient | None = None

    def _attach(self, context: ResourceContext) -> None:
        self._context = context
        #: Conference summaries (Voice Insights v1).
        self.conferences = Conferences(self._context)
        #: Conference participant summaries (Voice Insights v1).
        self.participant_summaries = ParticipantSummaries(self._context)
        #: Live conference participants (core API 2010-04-01).
        self.participants = Participants(self._context)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Self:
        """A client configured from the environment variables twilio-python reads.

        ``TWILIO_ACCOUNT_SID`` with ``TWILIO_AUTH_TOKEN``, or with ``TWILIO_API_KEY`` and
        ``TWILIO_API_SECRET``; ``TWILIO_REGION``, ``TWILIO_EDGE``, and the base-URL
        overrides ``TWILIO_INSIGHTS_BASE_URL`` and ``TWILIO_API_BASE_URL`` when set (the
        command line reads the same variables, and ``twilio-conf-insights fake-server``
        prints them). ``options`` are passed on to the constructor (and win over the
        environment).
        """
        env = os.environ if environ is None else environ
        given = sorted({"account_sid", "auth_token", "api_key", "api_secret"} & options.keys())
        if given:
            raise ConfigurationError(
                f"from_env() reads credentials from the environment; do not pass {', '.join(given)}"
            )
        for option, variable in _ENV_OPTIONS.items():
            if options.get(option) is None:
                options[option] = env.get(variable) or None
        # Validated once, by the constructor, whichever form the environment holds.
        return cls(**Credentials.env_arguments(env), **options)

    @property
    def account_sid(self) -> str:
        """The account this client acts for."""
        return self._credentials.account_sid

    @property
    def insights_base_url(self) -> str:
        """The Voice Insights host in use."""
        return str(self._context.insights_url)

    @property
    def api_base_url(self) -> str:
        """The core API host in use."""
        return str(self._context.api_url)

    @property
    def closed(self) -> bool:
        """Whether the client was closed (for a view: the view, or the client it came from)."""
        return self._context.calls.scope.closed

    @property
    def options(self) -> RequestOptions:
        """The options every call of this client (or view) is made with."""
        return self._context.calls.options

    def with_options(
        self,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        max_body_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Self:
        """A view of this client whose calls are made with other options.

        The view shares everything else with the client: the connection (session, proxy,
        credentials), the limiter (its requests count against the same cap, and a throttle
        slows both down), the hooks and the body budget. Closing the client closes its
        views; closing a view (``async with`` works too) closes nothing shared: its own
        calls then raise :class:`ClientClosedError`, the client's go on::

            fast = client.with_options(timeout=2.0, retry=RetryPolicy(max_attempts=2))
            summary = await fast.conferences.fetch(sid)   # in a web handler: fail fast

        ``None`` keeps the current value; ``headers`` are added to this client's extra
        headers (the SDK's own cannot be replaced).
        """
        changed = self.options.merged(
            timeout=timeout, retry=retry, max_body_bytes=max_body_bytes, headers=headers
        )
        view = object.__new__(type(self))
        view.__dict__.update(
            {name: value for name, value in self.__dict__.items() if name in _SHARED_BY_VIEWS}
        )
        view._parent = self
        view._attach(self._context.with_calls(self._context.calls.with_options(changed)))
        return view

    async def conference_reports(
        self,
        *,
        concurrency: int | None = None,
        ordered: bool = False,
        page_size: int | None = None,
        limit: int | None = None,
        **filters: Unpack[ConferenceFilters],
    ) -> AsyncGenerator[ConferenceReport, None]:
        """Stream every matching conference with all of its participant summaries.

        ``filters`` are those of :meth:`Conferences.list` (``status``, ``created_after``...).
        Conference pages flow into at most ``concurrency`` concurrent participant listings
        (default: ``max_concurrency``), so the first report arrives after about two round
        trips and memory stays bounded whatever the total. Reports come as they complete,
        or in the listing's order (newest first) with ``ordered=True``.
        """
        conferences = self.conferences.list(page_size=page_size, limit=limit, **filters)
        width = concurrency if concurrency is not None else self._context.max_concurrency
        reports = map_bounded(
            conferences, self._participants_of, concurrency=width, ordered=ordered
        )
        async with contextlib.aclosing(reports) as outcomes:
            async for summary, participants, error in outcomes:
                yield ConferenceReport(
                    summary=summary, participants=participants or [], error=error
                )

    async def _participants_of(self, summary: ConferenceSummary) -> list[ParticipantSummary]:
        sid = summary.conference_sid
        if sid is None or not is_sid(sid, "CF"):
            # Server data, not the caller's argument: a decode problem, not a ValueError.
            raise DecodeError(
                f"conference_sid is not a conference SID: {sid!r}",
                resource="ConferenceSummary",
                field="$.conference_sid",
            )
        return await self.participant_summaries.list(sid, page_size=1000).collect()

    async def sync(
        self,
        store: Store,
        *,
        window: timedelta | None = None,
        subaccounts: Sequence[str] = (),
        refresh: bool = False,
        concurrency: int | None = None,
        on_progress: Callable[[SyncProgress], None] | None = None,
        now: datetime | None = None,
        **filters: Unpack[ConferenceFilters],
    ) -> SyncSummary:
        """Bring a store (e.g. :class:`~twilio_conf_insights.sync.SQLiteStore`) up to date.

        Syncs conferences created in ``[created_after, created_before)`` (two of the
        ``filters``); by default from where the store left off (first run: the last 24
        hours) until ``now``. The range is
        cut into ``window``-wide windows (default one hour) listed concurrently. Conferences
        the store holds *settled* (summary and all participant summaries terminal) are not
        fetched again unless ``refresh``; windows older than 24 h 30 min holding only
        settled conferences are closed and never listed again; open windows of earlier
        runs are revisited. ``subaccounts`` (and a ``subaccount`` filter) are synced each on
        its own (default: what the credentials' account lists). ``filters`` are those of
        :meth:`Conferences.list`.

        Every write is an idempotent upsert committed as it goes, so a killed run resumes
        where it stopped. Returns a :class:`~twilio_conf_insights.sync.SyncSummary`; a
        conference that could not be fetched is in its ``errors`` (a re-run picks it up).
        Raises :class:`~twilio_conf_insights.sync.StoreError` when the store cannot be
        written (busy, read-only, disk full).
        """
        from .sync._engine import DEFAULT_WINDOW, run_sync

        return await run_sync(
            self,
            store,
            window=window if window is not None else DEFAULT_WINDOW,
            subaccounts=subaccounts,
            refresh=refresh,
            now=now,
            concurrency=concurrency,
            on_progress=on_progress,
            filters=dict(filters),
        )

    def stats(self) -> LimiterStats:
        """The client-wide limiter's state: current concurrency limit, throttle events..."""
        return self._limiter.stats()

    def buffer_stats(self) -> BufferStats:
        """What response bodies hold now, and at most so far, against ``max_buffered_bytes``."""
        return self._budget.stats()

    def _on_limiter_change(self, stats: LimiterStats, reason: str) -> None:
        self._events.emit(ThrottleChanged(reason=reason, stats=stats))

    async def aclose(self) -> None:
        """Close the connection pool this client opened. Idempotent.

        For a view (see :meth:`with_options`): close the view only.
        """
        if self._parent is not None:
            self._context.calls.scope.close()
            return
        if not self._connection.closed:
            self._limiter.remove_listener(self._on_limiter_change)
        await self._connection.aclose()

    async def __aenter__(self) -> Self:
        return self

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        view = " view" if self._parent is not None else ""
        proxies = self._connection.proxies.describe()
        proxy = f" proxy={proxies!r}" if proxies else ""
        return (
            f"<InsightsClient{view} account_sid={self.account_sid!r} "
            f"insights={self.insights_base_url!r} api={self.api_base_url!r}{proxy}{state}>"
        )


#: What a view made by ``with_options`` shares with its client (the rest is its own).
_SHARED_BY_VIEWS = frozenset({"_credentials", "_connection", "_budget", "_events", "_limiter"})


def _limiter(
    limiter: Limiter | None,
    max_concurrency: int | None,
    rate_limit: float | None,
    throttle: ThrottlePolicy | None,
) -> Limiter:
    """The limiter given, or one built from the options that describe it (not both)."""
    if limiter is None:
        return AdaptiveLimiter(
            DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency,
            rate_limit=rate_limit,
            throttle=throttle,
        )
    given = [
        name
        for name, value in (
            ("max_concurrency", max_concurrency),
            ("rate_limit", rate_limit),
            ("throttle", throttle),
        )
        if value is not None
    ]
    if given:
        raise ConfigurationError(
            f"give {', '.join(given)} to the limiter, not to the client: limiter= replaces them"
        )
    for method in ("try_acquire", "acquire", "stats", "add_listener", "remove_listener"):
        if not callable(getattr(limiter, method, None)):
            raise ConfigurationError(f"limiter must implement the Limiter protocol (no {method})")
    return limiter
