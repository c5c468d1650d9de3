"""The resources' enums and field order, transcribed from Twilio's OpenAPI descriptions.

The generator builds its JSON in exactly this field order; tests (and SDK model tests)
can use these to check that every documented field is present.
"""

from __future__ import annotations

__all__ = [
    "CALL_DIRECTIONS",
    "CALL_STATUSES",
    "CALL_TYPES",
    "CONFERENCE_FIELDS",
    "CONFERENCE_STATUSES",
    "END_REASONS",
    "JITTER_BUFFER_SIZES",
    "LIVE_PARTICIPANT_FIELDS",
    "LIVE_PARTICIPANT_STATUSES",
    "PARTICIPANT_SUMMARY_FIELDS",
    "PROCESSING_STATES",
    "REGIONS",
    "TAGS",
]

# -- The enums of the OpenAPI descriptions --------------------------------------------------

CONFERENCE_STATUSES = ("in_progress", "not_started", "completed", "summary_timeout")
END_REASONS = (
    "last_participant_left",
    "conference_ended_via_api",
    "participant_with_end_conference_on_exit_left",
    "last_participant_kicked",
    "participant_with_end_conference_on_exit_kicked",
)
REGIONS = ("us1", "us2", "au1", "br1", "ie1", "jp1", "sg1", "de1", "in1")
TAGS = (
    "invalid_requested_region",
    "duplicate_identity",
    "start_failure",
    "region_configuration_issues",
    "quality_warnings",
    "participant_behavior_issues",
    "high_packet_loss",
    "high_jitter",
    "high_latency",
    "low_mos",
    "detected_silence",
    "no_concurrent_participants",
)
PROCESSING_STATES = ("complete", "in_progress", "timeout")
CALL_DIRECTIONS = ("inbound", "outbound")
CALL_STATUSES = ("answered", "completed", "busy", "fail", "noanswer", "ringing", "canceled")
JITTER_BUFFER_SIZES = ("large", "small", "medium", "off")
CALL_TYPES = ("carrier", "client", "sip")
LIVE_PARTICIPANT_STATUSES = ("queued", "connecting", "ringing", "connected", "complete", "failed")

# -- Field order of each resource, as Twilio serialises it ----------------------------------

CONFERENCE_FIELDS = (
    "conference_sid",
    "account_sid",
    "friendly_name",
    "start_time",
    "create_time",
    "end_time",
    "duration_seconds",
    "connect_duration_seconds",
    "status",
    "max_participants",
    "max_concurrent_participants",
    "unique_participants",
    "end_reason",
    "ended_by",
    "mixer_region",
    "mixer_region_requested",
    "recording_enabled",
    "processing_state",
    "detected_issues",
    "tags",
    "tag_info",
    "url",
    "links",
)
PARTICIPANT_SUMMARY_FIELDS = (
    "participant_sid",
    "label",
    "conference_sid",
    "call_sid",
    "account_sid",
    "call_direction",
    "from",
    "to",
    "call_status",
    "country_code",
    "is_moderator",
    "join_time",
    "leave_time",
    "duration_seconds",
    "outbound_queue_length",
    "outbound_time_in_queue",
    "jitter_buffer_size",
    "is_coach",
    "coached_participants",
    "participant_region",
    "conference_region",
    "call_type",
    "processing_state",
    "properties",
    "events",
    "metrics",
    "url",
)
LIVE_PARTICIPANT_FIELDS = (
    "account_sid",
    "call_sid",
    "label",
    "conference_sid",
    "date_created",
    "date_updated",
    "end_conference_on_exit",
    "muted",
    "hold",
    "status",
    "start_conference_on_enter",
    "coaching",
    "call_sid_to_coach",
    "queue_time",
    "uri",
)
