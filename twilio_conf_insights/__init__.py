"""twilio-conf-insights: an asyncio-native, fully typed SDK for Twilio Conference Insights.

Start with :class:`InsightsClient`; the models are in :mod:`twilio_conf_insights._models`,
the errors in :mod:`twilio_conf_insights._errors`, and a fake Twilio for your own tests in
:mod:`twilio_conf_insights.testing`.
"""

from ._bulk import ConferenceReport, FetchResult
from ._client import InsightsClient
from ._errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    DecodeError,
    ForeignOriginError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryExhaustedError,
    ServerError,
    TransportError,
    TwilioInsightsError,
)
from ._events import ClientEvent, RequestSent, ResponseReceived, RetryScheduled, ThrottleChanged
from ._limiter import LimiterStats, ThrottlePolicy
from ._models import (
    AvgMax,
    CallDirection,
    CallStatus,
    CallType,
    ConferenceEndReason,
    ConferenceStatus,
    ConferenceSummary,
    ConferenceTag,
    DetectedIssue,
    DetectedIssues,
    JitterBufferSize,
    Participant,
    ParticipantMetrics,
    ParticipantProperties,
    ParticipantStatus,
    ParticipantSummary,
    ProcessingState,
    Region,
    StreamMetrics,
)
from ._pagination import Page, Paginator
from ._resources.conferences import ConferenceFilters
from ._retry import RetryPolicy
from ._version import __version__
from ._waiting import WaitTimeoutError

__all__ = [
    "ApiError",
    "AuthenticationError",
    "AvgMax",
    "BadRequestError",
    "CallDirection",
    "CallStatus",
    "CallType",
    "ClientClosedError",
    "ClientEvent",
    "ConferenceEndReason",
    "ConferenceFilters",
    "ConferenceReport",
    "ConferenceStatus",
    "ConferenceSummary",
    "ConferenceTag",
    "ConfigurationError",
    "DecodeError",
    "DetectedIssue",
    "DetectedIssues",
    "FetchResult",
    "ForeignOriginError",
    "InsightsClient",
    "InvalidArgumentError",
    "JitterBufferSize",
    "LimiterStats",
    "NotFoundError",
    "Page",
    "Paginator",
    "Participant",
    "ParticipantMetrics",
    "ParticipantProperties",
    "ParticipantStatus",
    "ParticipantSummary",
    "PermissionDeniedError",
    "ProcessingState",
    "RateLimitError",
    "Region",
    "RequestSent",
    "ResponseReceived",
    "RetryExhaustedError",
    "RetryPolicy",
    "RetryScheduled",
    "ServerError",
    "StreamMetrics",
    "ThrottleChanged",
    "ThrottlePolicy",
    "TransportError",
    "TwilioInsightsError",
    "WaitTimeoutError",
    "__version__",
]
