"""The realistic distributions the synthetic data draws from, and quality-problem flags."""

from __future__ import annotations

from ._format import Weighted

MIXER_REGIONS = Weighted(
    [
        ("us1", 52),
        ("ie1", 12),
        ("de1", 9),
        ("au1", 7),
        ("sg1", 6),
        ("jp1", 5),
        ("br1", 4),
        ("us2", 3),
        ("in1", 2),
    ]
)
END_REASONS = Weighted(
    [
        ("last_participant_left", 60),
        ("participant_with_end_conference_on_exit_left", 24),
        ("conference_ended_via_api", 9),
        ("last_participant_kicked", 4),
        ("participant_with_end_conference_on_exit_kicked", 3),
    ]
)
CALL_TYPES = Weighted([("carrier", 60), ("client", 30), ("sip", 10)])
JITTER_BUFFERS: Weighted[str | None] = Weighted(
    [(None, 70), ("small", 10), ("medium", 10), ("large", 6), ("off", 4)]
)
FAILED_CALL_STATUSES = ("busy", "noanswer", "fail", "canceled")
PENDING_LIVE_STATUSES = ("queued", "connecting", "ringing")

# Countries by region: (ISO code, dialling code, national number length).
COUNTRIES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "us1": (("US", "1", 10), ("US", "1", 10), ("US", "1", 10), ("CA", "1", 10)),
    "us2": (("US", "1", 10), ("MX", "52", 10)),
    "ie1": (("GB", "44", 10), ("IE", "353", 9), ("ES", "34", 9)),
    "de1": (("DE", "49", 11), ("FR", "33", 9), ("NL", "31", 9)),
    "au1": (("AU", "61", 9), ("NZ", "64", 9)),
    "sg1": (("SG", "65", 8), ("MY", "60", 9)),
    "jp1": (("JP", "81", 10),),
    "br1": (("BR", "55", 11),),
    "in1": (("IN", "91", 10),),
}
FIRST_NAMES = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "yuki",
)
# Labels a client must percent-encode: each breaks naive URL building in its own way.
AWKWARD_LABELS = (
    "agent 7",
    "sales/emea",
    "who?",
    "#escalations",
    "100% done",
    "..",
    "a/../b",
    "agent José",
    "客服 3",
    "tier 2 / night?#%",
)
FRIENDLY_NAMES = (
    "Support call {n}",
    "Daily Standup",
    "Weekly sync",
    "customer-escalation-{n}",
    "outboundConfCallTransferThrice_{n}",
    "conf_{hex}",
    "Soporte técnico {n}",
    "Réunion équipe {n}",
    "会议 {n}",
    "Warm transfer #{n}",
    "Sales demo - ACME {n}",
    "Incident bridge {hex}",
)

# Quality problems of a participant, decided when the conference is planned so the
# conference's tags and detected_issues can agree with the participants' metrics.
LOW_MOS = 1
HIGH_JITTER = 2
PACKET_LOSS = 4
HIGH_LATENCY = 8
SILENT = 16
QUALITY_TAGS = (
    ("high_packet_loss", PACKET_LOSS),
    ("high_jitter", HIGH_JITTER),
    ("high_latency", HIGH_LATENCY),
    ("low_mos", LOW_MOS),
)
