"""twilio-conf-insights: an asyncio-native, fully typed SDK for Twilio Conference Insights.

Start with :class:`InsightsClient`. Everything a caller uses is importable from here: the
client and its policies, the models and their enums, the errors, and the hook events.
Three public subpackages add to it: :mod:`twilio_conf_insights.sync` keeps a local store
of conferences current, :mod:`twilio_conf_insights.distributed` runs that sync on many
workers, and :mod:`twilio_conf_insights.testing` is a fake Twilio for your own tests.
Modules whose names start with ``_`` are private and may change in any release.
"""

from ._body import BufferStats
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
    PaginationLoopError,
    PermissionDeniedError,
    RateLimitError,
    RetryExhaustedError,
    ServerError,
    TransportError,
    TwilioInsightsError,
)
from ._events import (
    ClientEvent,
    RecordProblems,
    RequestSent,
    ResponseReceived,
    RetryScheduled,
    ThrottleChanged,
)
from ._limiter import (
    AdaptiveLimiter,
    Limiter,
    LimiterSlot,
    LimiterStats,
    Outcome,
    SlotOutcome,
    Throttled,
    ThrottlePolicy,
)
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
from ._options import RequestOptions
from ._pagination import Page, Paginator
from ._resources.conferences import ConferenceFilters
from ._results import ConferenceReport, FetchResult
from ._retry import RetryPolicy
from ._version import __version__
from ._waiting import WaitTimeoutError

__all__ = [
    "AdaptiveLimiter",
    "ApiError",
    "AuthenticationError",
    "AvgMax",
    "BadRequestError",
    "BufferStats",
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
    "PaginationLoopError",
    "InsightsClient",
    "InvalidArgumentError",
    "JitterBufferSize",
    "Limiter",
    "LimiterSlot",
    "LimiterStats",
    "NotFoundError",
    "Outcome",
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
    "RequestOptions",
    "RequestSent",
    "ResponseReceived",
    "RetryExhaustedError",
    "RetryPolicy",
    "RecordProblems",
    "RetryScheduled",
    "ServerError",
    "SlotOutcome",
    "StreamMetrics",
    "ThrottleChanged",
    "ThrottlePolicy",
    "Throttled",
    "TransportError",
    "TwilioInsightsError",
    "WaitTimeoutError",
    "__version__",
]
