"""Seeded synthetic Conference Insights data: :class:`FakeData`.

Everything here derives from one integer seed through private :class:`random.Random`
instances, so two generators with the same arguments produce byte-identical JSON.

Generation is two-tier to stay cheap at 100k participants: building :class:`FakeData`
plans every conference *and* the few facts about each participant that the conference
summary depends on (``_plan.py``). The full participant JSON (metrics, events,
properties, 2010 flags, ``_participant_json.py``) is produced on first access of a
conference, from a per-conference RNG, so it does not depend on access order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime

from ._format import JSONDict, derive_credentials, iso8601, rfc2822
from ._participant_json import conference_url, participants_json, summary_url
from ._plan import ConfPlan, PlanContext, assign_labels, plan_conference
from ._processing import ProcessingStates

__all__ = [
    "ADDED",
    "ChangeListener",
    "FakeData",
    "JSONDict",
    "derive_credentials",
    "iso8601",
    "rfc2822",
]


#: What a :data:`ChangeListener` is told for a conference that just appeared.
ADDED = "added"
#: Called with ``(conference_sid, what)``: :data:`ADDED`, or the new ``processing_state``.
ChangeListener = Callable[[str, str], None]


class _ParticipantView(Mapping[str, list[JSONDict]]):
    """``conference_sid -> participants`` that builds each conference's list on first use."""

    def __init__(self, data: FakeData, family: int) -> None:
        self._data = data
        self._family = family

    def __getitem__(self, conference_sid: str) -> list[JSONDict]:
        return self._data._participants_of(conference_sid)[self._family]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data._plans)

    def __len__(self) -> int:
        return len(self._data._plans)

    def __contains__(self, key: object) -> bool:
        return key in self._data._plans


class FakeData:
    """The synthetic records a :class:`FakeTwilio` serves; mutate them to shape a test.

    ``conferences`` holds the exact JSON objects the server returns (newest ``create_time``
    first); ``participant_summaries[conference_sid]`` and ``participants[conference_sid]``
    the Insights and 2010 participants of a conference, built on first access. Lists are
    scanned per request, so editing a dict in place (or a label) changes what is served;
    :meth:`add_conferences` makes new conferences appear (removing them is not supported),
    and :attr:`processing` settles summaries.

    ``now`` pins the data's "now" (default: a fixed moment in 2025 derived from ``seed``);
    ``subaccount_sid`` may name several subaccounts, which share about 20% of the
    conferences.

    ``labels`` overrides generated labels: they go, in order, to the participants of the
    conferences in served order (first conference's participants first), in both families.
    """

    def __init__(
        self,
        *,
        conferences: int = 50,
        participants_per_conference: int | tuple[int, int] = (2, 6),
        seed: int = 1234,
        account_sid: str | None = None,
        subaccount_sid: str | Sequence[str] | None = None,
        labels: Sequence[str] = (),
        base_url: str = "http://127.0.0.1:0",
        now: datetime | None = None,
    ) -> None:
        if conferences < 0:
            raise ValueError(f"conferences must be >= 0, got {conferences!r}")
        if isinstance(participants_per_conference, int):
            low = high = participants_per_conference
        else:
            low, high = participants_per_conference
        if not 0 <= low <= high:
            raise ValueError(
                f"participants_per_conference must be n >= 0 or (min, max) with "
                f"0 <= min <= max, got {participants_per_conference!r}"
            )
        self.seed = seed
        """The seed everything derives from."""
        rng = random.Random(seed)
        # A fixed "now" per seed, somewhere in 2025, so timestamps are reproducible; or the
        # given one (the demo passes the wall clock, so "the last day" has data). Drawn
        # either way, so that a seed gives the same SIDs whatever its "now".
        fixed_now = 1735689600 + rng.randrange(365 * 86400)
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        self.base_epoch = fixed_now if now is None else int(now.timestamp())
        """:attr:`base_time` as Unix seconds."""
        self.base_time = datetime.fromtimestamp(self.base_epoch, UTC)
        """The fixed "now" of this data set; every timestamp lies before it."""
        self.account_sid = account_sid or derive_credentials(seed)[0]
        """The account owning the conferences (except the subaccount's share)."""
        self.subaccount_sids: tuple[str, ...] = (
            (subaccount_sid,) if isinstance(subaccount_sid, str) else tuple(subaccount_sid or ())
        )
        """The subaccounts owning about 20% of the conferences between them."""
        self.subaccount_sid = self.subaccount_sids[0] if self.subaccount_sids else None
        """The first of :attr:`subaccount_sids`, or ``None``."""
        self._per_conference = (low, high)
        self._additions = 0
        self.base_url = base_url
        """The origin that absolute ``url`` fields point at."""

        ctx = PlanContext(rng, self.base_epoch, self.account_sid, self.subaccount_sids, (low, high))
        planned = [plan_conference(ctx) for _ in range(conferences)]
        planned.sort(key=lambda pair: (pair[1]["create_time"], pair[0].sid), reverse=True)
        self._plans: dict[str, ConfPlan] = {plan.sid: plan for plan, _ in planned}
        assign_labels(self._plans.values(), labels)
        self._by_sid: dict[str, JSONDict] = {plan.sid: summary for plan, summary in planned}
        self.conferences: list[JSONDict] = [summary for _, summary in planned]
        """Insights conference summaries, newest first, exactly as served."""
        self._built: dict[str, tuple[list[JSONDict], list[JSONDict]]] = {}
        self.participant_summaries: Mapping[str, list[JSONDict]] = _ParticipantView(self, 0)
        """``conference_sid -> [participant summary, …]`` (Insights), built lazily."""
        self.participants: Mapping[str, list[JSONDict]] = _ParticipantView(self, 1)
        """``conference_sid -> [participant, …]`` (2010 API), built lazily."""
        self._listeners: list[ChangeListener] = []
        self.processing = ProcessingStates(self)
        """Moves ``processing_state`` to terminal on command or in time; see
        :class:`~twilio_conf_insights.testing.ProcessingStates`."""
        self.rebase(base_url)

    @property
    def now(self) -> datetime:
        """Alias of :attr:`base_time`."""
        return self.base_time

    def conference(self, conference_sid: str) -> JSONDict | None:
        """The conference summary with this SID, or ``None``."""
        return self._by_sid.get(conference_sid)

    def add_conferences(self, count: int, *, seconds: int = 3600) -> list[str]:
        """Let ``seconds`` pass and ``count`` new conferences appear, created in that time.

        "Now" (:attr:`base_time`) moves forward by ``seconds``; the new conferences are
        served first (newest first, as always). Returns their SIDs, newest first.
        """
        if count < 0 or seconds < 1:
            raise ValueError(f"need count >= 0 and seconds >= 1, got {count!r}, {seconds!r}")
        self._additions += 1
        rng = random.Random(f"{self.seed}:added:{self._additions}")
        self.base_epoch += seconds
        self.base_time = datetime.fromtimestamp(self.base_epoch, UTC)
        ctx = PlanContext(
            rng,
            self.base_epoch,
            self.account_sid,
            self.subaccount_sids,
            self._per_conference,
            span=seconds,
        )
        planned = [plan_conference(ctx) for _ in range(count)]
        planned.sort(key=lambda pair: (pair[1]["create_time"], pair[0].sid), reverse=True)
        for plan, summary in planned:
            self._plans[plan.sid] = plan
            self._by_sid[plan.sid] = summary
        self.conferences[:0] = [summary for _, summary in planned]
        self.rebase(self.base_url)
        sids = [plan.sid for plan, _ in planned]
        for sid in reversed(sids):  # oldest first, as they started
            self._notify(sid, ADDED)
        return sids

    def subscribe(self, listener: ChangeListener) -> Callable[[], None]:
        """Call ``listener`` when a conference appears or its ``processing_state`` changes.

        Returns the function that unsubscribes it. (The fake's Event Streams use this.)
        """
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def _notify(self, conference_sid: str, what: str) -> None:
        for listener in list(self._listeners):
            listener(conference_sid, what)

    def set_processing_state(self, conference_sid: str, state: str) -> None:
        """Set ``processing_state`` of a conference and of all its participant summaries."""
        summary = self._by_sid[conference_sid]
        previous = summary.get("processing_state")
        summary["processing_state"] = state
        self._plans[conference_sid].processing_state = state
        built = self._built.get(conference_sid)
        if built is not None:  # not built yet: they will be built with the new state
            for participant in built[0]:
                participant["processing_state"] = state
        if previous != state:
            self._notify(conference_sid, state)

    def all_participant_summaries(self) -> Iterator[JSONDict]:
        """Every participant summary, conference by conference (builds them all)."""
        for sid in self._plans:
            yield from self._participants_of(sid)[0]

    def rebase(self, base_url: str) -> None:
        """Point every absolute ``url`` at ``base_url`` (the server calls this on start)."""
        self.base_url = base_url.rstrip("/")
        for summary in self.conferences:
            url = conference_url(self.base_url, summary["conference_sid"])
            summary["url"] = url
            summary["links"] = {"conference_participants": f"{url}/Participants"}
        for conference_sid, (summaries, _) in self._built.items():
            for summary in summaries:
                summary["url"] = summary_url(
                    self.base_url, conference_sid, summary["participant_sid"]
                )

    def _participants_of(self, conference_sid: str) -> tuple[list[JSONDict], list[JSONDict]]:
        built = self._built.get(conference_sid)
        if built is None:
            plan = self._plans[conference_sid]
            # Seeded per conference, so the result does not depend on access order.
            rng = random.Random(f"{self.seed}:{conference_sid}")
            built = participants_json(plan, rng, self.base_epoch, self.base_url)
            self._built[conference_sid] = built
            plan.parts = []  # no longer needed; fewer objects for the cycle collector
        return built
