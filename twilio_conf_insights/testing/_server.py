"""The aiohttp server: request pipeline, auth, fault application, lifecycle.

Pipeline per request: count it in flight, record it, wait ``latency``, apply a fault if
the injector picks one (an edge can 429/503 before auth), then authenticate, route and
answer. Route logic lives in ``_routes.py``, fault decisions in ``_faults.py``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import ipaddress
import json
import math
import re
import secrets
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs
from aiohttp import web

from .._closing import ClosedOnExit
from ._concurrency import AccountGate, ConcurrencyCap
from ._data import FakeData, JSONDict, derive_credentials
from ._errors import ErrorResponse, error_body
from ._event_streams import EventDelivery, EventStream
from ._faults import RETRY_AFTER_KINDS, STATUS_FAULTS, Fault, FaultInjector, FaultKind
from ._records import RecordedRequest, Recorder, without_secrets
from ._routes import RequestContext, match_route

__all__ = ["FakeTwilio"]

_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_JSON = "application/json"
_AUTH_CHALLENGE = {"WWW-Authenticate": 'Basic realm="Twilio API"'}

# What a MALFORMED_JSON fault sends: plausible start, then an HTML error page, as a
# misbehaving proxy would.
_MALFORMED_BODY = b'{"meta": {"page": 0, "page_size": 50, "key": <html><body>502</body></html>'
# What a TRUNCATED_BODY fault sends before closing, and how many bytes it promised more.
_PARTIAL_BODY = b'{"meta": {"page": 0, "page_size": 50, "first_page_url": "http://127.0.0.1/v1/Co'
_MISSING_BYTES = 512


@attrs.frozen
class _Auth:
    present: bool
    username: str | None
    ok: bool


def _json_bytes(payload: JSONDict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _loopback_host(host: str) -> str:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"FakeTwilio binds loopback addresses only (e.g. 127.0.0.1), not {host!r}")
    return host


class FakeTwilio(ClosedOnExit):
    """A fake of Twilio's Conference Insights and 2010 participant endpoints on loopback.

    Serves the six GET routes of the SDK from seeded synthetic :class:`FakeData`, with real
    pagination, filters, HTTP Basic auth, Twilio error bodies, added latency and fault
    injection. Both API families share one origin: :attr:`insights_base_url` and
    :attr:`api_base_url` are both :attr:`base_url`.

    Use it as ``async with FakeTwilio(...) as fake:`` or with :meth:`start` and
    :meth:`close`. Credentials default to fixed values derived from ``seed``.
    ``labels`` pins participant labels (see :class:`FakeData`), e.g. awkward ones to test
    URL encoding. ``now`` is the moment the data leads up to (default: a fixed moment per
    seed, so timestamps are reproducible; the demo and ``fake-server`` pass the current
    time, so that "the last day" has data); ``subaccount_sid`` may list
    several subaccounts.

    With ``event_sink`` (a URL), the fake also acts as Twilio's Event Streams: it POSTs
    signed deliveries of Voice Insights events to it as conferences appear and their
    summaries settle (see :attr:`events` and :class:`EventDelivery`).
    """

    def __init__(
        self,
        *,
        conferences: int = 50,
        participants_per_conference: int | tuple[int, int] = (2, 6),
        seed: int = 1234,
        account_sid: str | None = None,
        auth_token: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        subaccount_sid: str | Sequence[str] | None = None,
        labels: Sequence[str] = (),
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        now: datetime | None = None,
        event_sink: str | None = None,
        event_delivery: EventDelivery | None = None,
    ) -> None:
        default_sid, default_token = derive_credentials(seed)
        subaccounts = (
            (subaccount_sid,) if isinstance(subaccount_sid, str) else tuple(subaccount_sid or ())
        )
        for name, sid in (
            ("account_sid", account_sid),
            *(("subaccount_sid", s) for s in subaccounts),
        ):
            if sid is not None and not _ACCOUNT_SID.fullmatch(sid):
                raise ValueError(f"{name} must look like 'AC' + 32 hex digits, got {sid!r}")
        if (api_key is None) != (api_secret is None):
            raise ValueError("api_key and api_secret go together")
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be within 0..65535, got {port!r}")
        self._host = _loopback_host(host)
        self._requested_port = port
        self._account_sid = account_sid or default_sid
        self._auth_token = auth_token or default_token
        self._credentials = {self._account_sid: self._auth_token}
        if api_key is not None and api_secret is not None:
            self._credentials[api_key] = api_secret
        self._subaccount_sids = subaccounts
        self._accounts = frozenset((self._account_sid, *subaccounts))
        self.latency = latency
        self.data = FakeData(
            conferences=conferences,
            participants_per_conference=participants_per_conference,
            seed=seed,
            account_sid=self._account_sid,
            subaccount_sid=subaccounts,
            now=now,
            labels=labels,
            base_url=self._url_for(port),
        )
        """The records served; see :class:`FakeData`."""
        self.faults = FaultInjector()
        """Fault injection controls; see :class:`FaultInjector`."""
        self.events: EventStream | None = (
            None
            if event_sink is None
            else EventStream(
                self.data,
                event_sink,
                auth_token=self._auth_token,
                options=event_delivery or EventDelivery(),
            )
        )
        """The Event Streams deliveries to ``event_sink`` (``None`` without a sink)."""
        self._recorder = Recorder()
        self._gate = AccountGate()
        self._in_flight = 0
        self._max_in_flight = 0
        self._stalled = 0
        # (path fragment, requests still to see, future): see wait_for_requests().
        self._request_waiters: list[tuple[str, list[int], asyncio.Future[None]]] = []
        self._runner: web.ServerRunner | None = None
        self._port: int | None = None
        self._closing = asyncio.Event()
        # Set by release_stalls(): ends every stall in progress (then replaced by a new one).
        self._stalls_released = asyncio.Event()

    # -- configuration and state ------------------------------------------------------------

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"<FakeTwilio {where} account_sid={self._account_sid}>"

    @property
    def account_sid(self) -> str:
        """The account SID accepted as Basic-auth user name."""
        return self._account_sid

    @property
    def auth_token(self) -> str:
        """The auth token accepted as Basic-auth password (a fake secret)."""
        return self._auth_token

    @property
    def subaccount_sid(self) -> str | None:
        """The (first) subaccount owning part of the data, if one was configured."""
        return self._subaccount_sids[0] if self._subaccount_sids else None

    @property
    def subaccount_sids(self) -> tuple[str, ...]:
        """Every subaccount owning part of the data."""
        return self._subaccount_sids

    @property
    def port(self) -> int:
        """The bound TCP port (known once started)."""
        if self._port is None:
            raise RuntimeError("FakeTwilio is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        return self._url_for(self.port)

    @property
    def insights_base_url(self) -> str:
        """Origin of the Insights (v1) routes: the same as :attr:`base_url`."""
        return self.base_url

    @property
    def api_base_url(self) -> str:
        """Origin of the 2010 API routes: the same as :attr:`base_url`."""
        return self.base_url

    @property
    def base_time(self) -> datetime:
        """The fixed "now" of the data; every timestamp lies before it."""
        return self.data.base_time

    @property
    def now(self) -> datetime:
        """Alias of :attr:`base_time`."""
        return self.data.base_time

    @property
    def latency(self) -> float:
        """Seconds added before every response; settable at any time."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"latency must be >= 0, got {seconds!r}")
        self._latency = float(seconds)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since start (or :meth:`reset_stats`), oldest first."""
        return self._recorder.snapshot()

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests ever handled at once (since :meth:`reset_stats`)."""
        return self._max_in_flight

    @property
    def concurrency_cap(self) -> ConcurrencyCap | None:
        """Twilio's per-account concurrency limit, or ``None`` (no limit); settable any time.

        Above ``limit`` requests of one account in flight, a request is answered 429 with
        error 20429 after the usual latency, and is not counted as in flight.
        """
        return self._gate.cap

    @concurrency_cap.setter
    def concurrency_cap(self, cap: ConcurrencyCap | None) -> None:
        self._gate.cap = cap

    @property
    def cap_rejections(self) -> int:
        """Requests answered 429 by :attr:`concurrency_cap` (since :meth:`reset_stats`)."""
        return self._gate.rejected

    @property
    def cap_admissions(self) -> int:
        """Authenticated requests admitted under the limit (since :meth:`reset_stats`)."""
        return self._gate.admitted

    async def wait_for_requests(self, count: int, *, path_contains: str = "") -> None:
        """Return once ``count`` more requests whose path contains ``path_contains`` arrived.

        Counts from the call on, so a test can wait for progress without sleeping.
        """
        if count < 1:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._request_waiters.append((path_contains, [count], future))
        await future

    def release_stalls(self) -> int:
        """Answer every request held by a :attr:`FaultKind.STALL` fault now; returns how many.

        A stall of ``stall_seconds=math.inf`` lasts until this call (or :meth:`close`), so a
        test can hold requests in flight for exactly as long as it needs them held, however
        slow the machine. Stalls that start later wait again.
        """
        released = self._stalled
        self._stalls_released.set()
        self._stalls_released = asyncio.Event()
        return released

    @property
    def stalled(self) -> int:
        """Requests held by a :attr:`FaultKind.STALL` fault right now."""
        return self._stalled

    def _count_arrival(self, path: str) -> None:
        for fragment, left, future in list(self._request_waiters):
            if fragment in path:
                left[0] -= 1
                if left[0] <= 0:
                    self._request_waiters.remove((fragment, left, future))
                    if not future.done():
                        future.set_result(None)

    def reset_stats(self) -> None:
        """Forget recorded requests and restart :attr:`max_in_flight` and the tallies from now."""
        self._recorder.clear()
        self._gate.reset()
        self._max_in_flight = self._in_flight

    def _url_for(self, port: int) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{port}"

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> FakeTwilio:
        """Bind and start serving; returns ``self``."""
        if self._runner is not None:
            raise RuntimeError("FakeTwilio is already started")
        self._closing = asyncio.Event()
        self._stalls_released = asyncio.Event()
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        # Handlers finish quickly once _closing is set, so a short grace period suffices.
        runner = web.ServerRunner(server, shutdown_timeout=2.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self.data.rebase(self.base_url)
        if self.events is not None:
            await self.events.start()
        return self

    async def aclose(self) -> None:
        """The same as :meth:`close` (for ``async with`` and ``contextlib.aclosing``)."""
        await self.close()

    async def close(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self.events is not None:
            await self.events.close()
        self._closing.set()
        self._stalls_released.set()
        await runner.cleanup()
        self._port = None

    async def __aenter__(self) -> FakeTwilio:
        return await self.start()

    @classmethod
    def run_forever(cls, **options: Any) -> None:
        """Serve in the foreground until Ctrl-C, printing how to connect.

        ``options`` are the constructor's keyword arguments.
        """
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(cls._serve_forever(options))

    @classmethod
    async def _serve_forever(cls, options: dict[str, Any]) -> None:
        async with cls(**options) as fake:
            print(f"FakeTwilio serving on {fake.base_url}")
            print(f"  insights base URL : {fake.insights_base_url}")
            print(f"  api base URL      : {fake.api_base_url}")
            print(f"  account SID       : {fake.account_sid}")
            # The token is fake by construction; printing it is the point of this command.
            print(f"  auth token        : {fake.auth_token}")
            print(f"  conferences       : {len(fake.data.conferences)}")
            print("Press Ctrl-C to stop.", flush=True)
            await asyncio.Event().wait()

    # -- request pipeline -------------------------------------------------------------------

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the server is closing."""
        if seconds <= 0:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            pass

    async def _stall(self, seconds: float) -> None:
        """Hold a request ``seconds`` (may be infinite), until :meth:`release_stalls` or close."""
        released = self._stalls_released
        self._stalled += 1
        try:
            async with asyncio.timeout(None if math.isinf(seconds) else seconds):
                await released.wait()
        except TimeoutError:
            pass
        finally:
            self._stalled -= 1

    def _authenticate(self, header: str | None) -> _Auth:
        if not header:
            return _Auth(False, None, False)
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return _Auth(True, None, False)
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return _Auth(True, None, False)
        username, separator, password = decoded.partition(":")
        expected = self._credentials.get(username)
        ok = bool(separator) and expected is not None
        # Compare even for unknown users so timing does not reveal which part is wrong.
        matches = hmac.compare_digest(password.encode(), (expected or "\0").encode())
        return _Auth(True, username, ok and matches)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        auth = self._authenticate(request.headers.get("Authorization"))
        # Twilio counts concurrency per account; an API key acts for the main account.
        account = auth.username if auth.username in self._accounts else self._account_sid
        admitted = not auth.ok or self._gate.enter(account)
        try:
            return await self._serve(request, auth, admitted)
        finally:
            self._in_flight -= 1
            if auth.ok and admitted:
                self._gate.leave(account)

    async def _serve(
        self, request: web.BaseRequest, auth: _Auth, admitted: bool
    ) -> web.StreamResponse:
        cap = self._gate.cap
        fault = (
            self.faults.pick(request.path)
            if admitted or cap is None
            else Fault(FaultKind.RATE_LIMIT, retry_after=cap.retry_after)
        )
        query: dict[str, list[str]] = {}
        for name, value in request.query.items():
            query.setdefault(name, []).append(value)
        if self._request_waiters:
            self._count_arrival(request.path)
        ticket = self._recorder.add(
            RecordedRequest(
                method=request.method,
                path=request.path,
                raw_path=request.raw_path,
                query=query,
                status=0,
                fault=fault.kind if fault is not None else None,
                authorized=auth.ok,
                headers=without_secrets(request.headers.items()),
                has_authorization=auth.present,
                username=auth.username,
                received_at=time.monotonic(),
            )
        )
        await self._pause(self._latency)
        if fault is not None:
            if fault.kind is FaultKind.STALL:
                await self._stall(fault.stall_seconds)
            else:
                return await self._apply_fault(request, fault, ticket)
        status, payload, headers = self._answer(request, auth, query)
        self._recorder.finish(ticket, status)
        return web.Response(
            status=status,
            body=_json_bytes(payload),
            headers=headers,
            content_type=_JSON,
            charset="utf-8",
        )

    def _answer(
        self, request: web.BaseRequest, auth: _Auth, query: dict[str, list[str]]
    ) -> tuple[int, JSONDict, dict[str, str]]:
        headers = {"Twilio-Request-Id": f"RQ{secrets.token_hex(16)}"}
        if not auth.ok:
            return 401, error_body(401), headers | _AUTH_CHALLENGE
        raw_path = request.raw_path.split("?", 1)[0]
        route = match_route(request.raw_path)
        if route is None:
            return 404, ErrorResponse.not_found(raw_path).body, headers
        if request.method not in ("GET", "HEAD"):
            return 405, error_body(405), headers | {"Allow": "GET"}
        self.data.processing.tick()
        context = RequestContext(
            data=self.data,
            base_url=self.base_url,
            accounts=self._accounts,
            path=raw_path,
            query={name: values[0] for name, values in query.items()},
        )
        try:
            return 200, route(context), headers
        except ErrorResponse as error:
            return error.status, error.body, headers

    async def _apply_fault(
        self, request: web.BaseRequest, fault: Fault, ticket: tuple[int, int]
    ) -> web.StreamResponse:
        kind = fault.kind
        if kind in STATUS_FAULTS:
            status = int(kind.value)
            headers = {"Twilio-Request-Id": f"RQ{secrets.token_hex(16)}"}
            if fault.retry_after is not None and kind in RETRY_AFTER_KINDS:
                headers["Retry-After"] = fault.retry_after
            self._recorder.finish(ticket, status)
            return web.Response(
                status=status,
                body=_json_bytes(error_body(status)),
                headers=headers,
                content_type=_JSON,
                charset="utf-8",
            )
        if kind is FaultKind.MALFORMED_JSON:
            self._recorder.finish(ticket, 200)
            return web.Response(status=200, body=_MALFORMED_BODY, content_type=_JSON)
        if kind is FaultKind.TRUNCATED_BODY:
            self._recorder.finish(ticket, 200)
            response = web.StreamResponse(status=200)
            response.content_type = _JSON
            response.charset = "utf-8"
            response.content_length = len(_PARTIAL_BODY) + _MISSING_BYTES
            await response.prepare(request)
            await response.write(_PARTIAL_BODY)
            # close() (unlike abort) flushes what was written, then sends FIN: the client
            # sees a 200 whose body ends early.
            if request.transport is not None:
                request.transport.close()
            return response
        # CONNECTION_RESET: no status line at all; the status stays 0.
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)
