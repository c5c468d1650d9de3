"""Typed models of the API's resources, and their enumerations."""

from ._base import JSONValue, TwilioModel
from .conference import ConferenceSummary, DetectedIssues, DetectedIssuesValue
from .enums import (
    CallDirection,
    CallStatus,
    CallType,
    ConferenceEndReason,
    ConferenceStatus,
    ConferenceTag,
    DetectedIssue,
    JitterBufferSize,
    ParticipantStatus,
    ProcessingState,
    Region,
)
from .participant import Participant
from .participant_summary import (
    AvgMax,
    MetricsValue,
    ParticipantMetrics,
    ParticipantProperties,
    ParticipantSummary,
    PropertiesValue,
    StreamMetrics,
)

__all__ = [
    "AvgMax",
    "CallDirection",
    "CallStatus",
    "CallType",
    "ConferenceEndReason",
    "ConferenceStatus",
    "ConferenceSummary",
    "ConferenceTag",
    "DetectedIssue",
    "DetectedIssues",
    "DetectedIssuesValue",
    "JSONValue",
    "JitterBufferSize",
    "MetricsValue",
    "Participant",
    "ParticipantMetrics",
    "ParticipantProperties",
    "ParticipantStatus",
    "ParticipantSummary",
    "ProcessingState",
    "PropertiesValue",
    "Region",
    "StreamMetrics",
    "TwilioModel",
]
