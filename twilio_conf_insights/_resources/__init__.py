"""The resources of the API, one module each."""

from .conferences import Conferences
from .participant_summaries import ParticipantSummaries
from .participants import Participants

__all__ = ["Conferences", "ParticipantSummaries", "Participants"]
