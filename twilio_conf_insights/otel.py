"""OpenTelemetry tracing: one span per call, with its retries inside it.

Needs the ``otel`` extra (``pip install 'twilio-conf-insights[otel]'``: the
``opentelemetry-api`` package only; your application brings the SDK and its exporter)::

    from twilio_conf_insights.otel import instrument

    client = InsightsClient.from_env()
    instrument(client)          # every call of the client (and of its views) is traced

Each call (a fetch, one page of a listing) is one ``CLIENT`` span named after its route
(``GET /v1/Conferences/{sid}``), a child of the span current where the call was made, even
when it waited in the limiter's queue first. Attributes: ``http.request.method``,
``url.full`` (page tokens and secrets redacted), ``url.template``, ``server.address``,
``server.port``, ``http.response.status_code``, ``twilio.request_id`` (Twilio's
``Twilio-Request-Id``) and ``twilio.attempts``. Every retry is a span event ``retry`` with its
cause (``twilio.retry.cause``, ``error.type``), the attempt that failed and the wait before the
next (``twilio.retry.wait``, seconds). A call that fails ends with status ERROR and the
exception recorded.

Not instrumenting costs nothing: the step is only added by :func:`instrument`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ._errors import ApiError, RetryExhaustedError
from ._events import ClientEvent, RequestSent, ResponseReceived, RetryScheduled
from ._pipeline import Request, Response, Transport
from ._redaction import redact_url
from ._version import __version__

try:
    from opentelemetry import trace
    from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, TracerProvider
except ImportError as missing:  # pragma: no cover - depends on the environment
    raise ImportError(
        "twilio_conf_insights.otel needs OpenTelemetry's API: "
        "pip install 'twilio-conf-insights[otel]'"
    ) from missing

if TYPE_CHECKING:
    from ._client import InsightsClient

__all__ = ["TRACER_NAME", "instrument"]

#: The instrumentation scope of the spans.
TRACER_NAME = "twilio_conf_insights"

# A path segment that names one record: the one after a collection's name.
_RECORD = re.compile(r"(?<=/(?:Accounts|Conferences|Participants)/)[^/]+?(?=\.json$|/|$)")


def url_template(path: str) -> str:
    """The route of a request path, records replaced: ``/v1/Conferences/{sid}``."""
    return _RECORD.sub("{sid}", path)


def instrument(client: InsightsClient, *, tracer_provider: TracerProvider | None = None) -> None:
    """Trace every call of ``client`` (and of every view of it); see the module documentation.

    ``tracer_provider`` defaults to OpenTelemetry's global one. Instrumenting a client twice
    does nothing the second time.
    """
    tracer = trace.get_tracer(TRACER_NAME, __version__, tracer_provider)
    pipeline = client._context.calls.pipeline
    if isinstance(pipeline.outer, _TracingTransport):
        return
    pipeline.wrap(lambda inner: _TracingTransport(inner, tracer))


class _CallTrace:
    """The hook that sees one call's events, and puts them on its span."""

    __slots__ = ("attempts", "request_id", "span", "status")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.attempts = 0
        self.status: int | None = None
        self.request_id: str | None = None

    def __call__(self, event: ClientEvent) -> None:
        if isinstance(event, RequestSent):
            self.attempts = event.attempt
        elif isinstance(event, ResponseReceived):
            self.status = event.status
            self.request_id = event.request_id
        elif isinstance(event, RetryScheduled):
            self.span.add_event(
                "retry",
                {
                    "twilio.retry.attempt": event.attempt,
                    "twilio.retry.wait": event.wait,
                    "twilio.retry.cause": event.cause,
                    "error.type": event.cause_type,
                },
            )

    def finish(self) -> None:
        """Put what the last attempt learned on the span."""
        if self.status is not None:
            self.span.set_attribute("http.response.status_code", self.status)
        if self.request_id is not None:
            self.span.set_attribute("twilio.request_id", self.request_id)
        self.span.set_attribute("twilio.attempts", self.attempts)


class _TracingTransport:
    """The tracing step: a span around the rest of the chain."""

    __slots__ = ("_inner", "_tracer")

    def __init__(self, inner: Transport, tracer: Tracer) -> None:
        self._inner = inner
        self._tracer = tracer

    async def handle(self, request: Request) -> Response:
        """Run the call inside its span."""
        url = request.url
        template = url_template(url.raw_path)
        attributes: dict[str, str | int] = {
            "http.request.method": request.method,
            "url.full": redact_url(url),
            "url.template": template,
            "server.address": url.host or "",
        }
        if url.port is not None:
            attributes["server.port"] = url.port
        with self._tracer.start_as_current_span(
            f"{request.method} {template}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            call = _CallTrace(span)
            request.events = request.events.with_hook(call)
            try:
                response = await self._inner.handle(request)
            except Exception as error:
                call.finish()
                if isinstance(error, RetryExhaustedError):
                    span.set_attribute("twilio.attempts", error.attempts)
                if isinstance(error, ApiError | RetryExhaustedError) and error.request_id:
                    span.set_attribute("twilio.request_id", error.request_id)
                span.set_attribute("error.type", type(error).__name__)
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, str(error)))
                raise
            call.finish()
            return response
