"""String-valued enumerations of the API's fields and filters.

Twilio adds values over time, so a field typed with one of these is declared as
``Enum | str``: a known value parses to the member, an unknown one stays the raw string.
Members are :class:`~enum.StrEnum`, so ``summary.status == "completed"`` holds either way.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "CallDirection",
    "CallStatus",
    "CallType",
    "ConferenceEndReason",
    "ConferenceStatus",
    "ConferenceTag",
    "DetectedIssue",
    "JitterBufferSize",
    "ParticipantStatus",
    "ProcessingState",
    "Region",
]


class ConferenceStatus(StrEnum):
    """Status of a conference summary."""

    IN_PROGRESS = "in_progress"
    NOT_STARTED = "not_started"
    COMPLETED = "completed"
    SUMMARY_TIMEOUT = "summary_timeout"


class ConferenceEndReason(StrEnum):
    """Why a conference ended."""

    LAST_PARTICIPANT_LEFT = "last_participant_left"
    CONFERENCE_ENDED_VIA_API = "conference_ended_via_api"
    PARTICIPANT_WITH_END_CONFERENCE_ON_EXIT_LEFT = "participant_with_end_conference_on_exit_left"
    LAST_PARTICIPANT_KICKED = "last_participant_kicked"
    PARTICIPANT_WITH_END_CONFERENCE_ON_EXIT_KICKED = (
        "participant_with_end_conference_on_exit_kicked"
    )


class Region(StrEnum):
    """A Twilio media region (mixer, participant and conference regions)."""

    US1 = "us1"
    US2 = "us2"
    AU1 = "au1"
    BR1 = "br1"
    IE1 = "ie1"
    JP1 = "jp1"
    SG1 = "sg1"
    DE1 = "de1"
    IN1 = "in1"


class ConferenceTag(StrEnum):
    """A condition Twilio detected in a conference."""

    INVALID_REQUESTED_REGION = "invalid_requested_region"
    DUPLICATE_IDENTITY = "duplicate_identity"
    START_FAILURE = "start_failure"
    REGION_CONFIGURATION_ISSUES = "region_configuration_issues"
    QUALITY_WARNINGS = "quality_warnings"
    PARTICIPANT_BEHAVIOR_ISSUES = "participant_behavior_issues"
    HIGH_PACKET_LOSS = "high_packet_loss"
    HIGH_JITTER = "high_jitter"
    HIGH_LATENCY = "high_latency"
    LOW_MOS = "low_mos"
    DETECTED_SILENCE = "detected_silence"
    NO_CONCURRENT_PARTICIPANTS = "no_concurrent_participants"


class DetectedIssue(StrEnum):
    """A category of ``detected_issues`` (the ``DetectedIssues`` list filter)."""

    CALL_QUALITY = "call_quality"
    REGION_CONFIGURATION = "region_configuration"
    PARTICIPANT_BEHAVIOR = "participant_behavior"


class ProcessingState(StrEnum):
    """Whether Twilio has finished aggregating a summary."""

    COMPLETE = "complete"
    IN_PROGRESS = "in_progress"
    TIMEOUT = "timeout"


class CallDirection(StrEnum):
    """Direction of a participant's call."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallStatus(StrEnum):
    """Status of the call behind a participant summary."""

    ANSWERED = "answered"
    COMPLETED = "completed"
    BUSY = "busy"
    FAIL = "fail"
    NOANSWER = "noanswer"
    RINGING = "ringing"
    CANCELED = "canceled"


class JitterBufferSize(StrEnum):
    """Jitter buffer size of a participant."""

    LARGE = "large"
    SMALL = "small"
    MEDIUM = "medium"
    OFF = "off"


class CallType(StrEnum):
    """How a participant connected."""

    CARRIER = "carrier"
    CLIENT = "client"
    SIP = "sip"


class ParticipantStatus(StrEnum):
    """Status of a live (2010 API) participant's call."""

    QUEUED = "queued"
    CONNECTING = "connecting"
    RINGING = "ringing"
    CONNECTED = "connected"
    COMPLETE = "complete"
    FAILED = "failed"
