"""Waiting for a summary to settle: schedule, Retry-After, deadline, over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import (
    AuthenticationError,
    InsightsClient,
    InvalidArgumentError,
    RateLimitError,
    RetryPolicy,
    WaitTimeoutError,
)

# The schedule is pure logic, unit-tested here; the waits themselves are tested over HTTP.
from twilio_conf_insights._waiting import PollSchedule
from twilio_conf_insights.testing import FakeData, FakeTwilio, Fault, FaultKind, ProcessingStates

from .helpers import PATIENCE, ClientFactory, wait_until


def _in_progress(fake: FakeTwilio) -> str:
    sid = fake.data.processing.unsettled()[0]
    return sid


def test_schedule_grows_from_poll_interval_to_the_cap() -> None:
    """Waits start at poll_interval, grow x1.5 per poll and stop growing at max_interval."""
    schedule = PollSchedule(poll_interval=2.0, max_interval=5.0)
    assert [schedule.wait(n, None) for n in range(1, 6)] == [2.0, 3.0, 4.5, 5.0, 5.0]


@given(
    poll=st.floats(0.001, 100.0),
    ceiling_extra=st.floats(0.0, 100.0),
    polls=st.integers(1, 10_000),
    retry_after=st.none() | st.floats(0.0, 1000.0),
)
def test_schedule_never_polls_faster_than_asked(
    poll: float, ceiling_extra: float, polls: int, retry_after: float | None
) -> None:
    """Whatever the poll count and Retry-After, a wait is >= poll_interval and >= Retry-After."""
    schedule = PollSchedule(poll_interval=poll, max_interval=poll + ceiling_extra)
    error = RateLimitError(429, 20429, "slow down", retry_after=retry_after)
    wait = schedule.wait(polls, error)
    assert wait >= poll
    assert wait >= (retry_after or 0.0)
    assert schedule.wait(polls, None) <= poll + ceiling_extra


async def test_conference_waiter_returns_the_summary_once_complete(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """The waiter polls until the fake settles the conference and returns the terminal summary."""
    sid = _in_progress(fake)
    fake.data.processing.settle_after(sid, polls=3)
    summary = await client.conferences.wait_until_complete(sid, timeout=30, poll_interval=0.001)
    assert summary.to_dict()["processing_state"] == "complete"
    assert summary.to_dict() == fake.data.conference(sid)
    polls = [r for r in fake.requests if r.path == f"/v1/Conferences/{sid}"]
    assert len(polls) == 4


async def test_participant_waiter_returns_the_summary_once_terminal(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """The participant waiter ends on ``timeout`` too, the other terminal state."""
    sid = _in_progress(fake)
    participant = fake.data.participant_summaries[sid][0]["participant_sid"]
    fake.data.processing.settle_after(sid, polls=2, state="timeout")
    summary = await client.participant_summaries.wait_until_complete(
        sid, participant, timeout=30, poll_interval=0.001
    )
    assert summary.to_dict()["processing_state"] == "timeout"
    assert len(fake.requests) == 3


async def test_an_already_terminal_summary_costs_one_request(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """No wait at all when the first poll is terminal."""
    sid = next(
        c["conference_sid"] for c in fake.data.conferences if c["processing_state"] != "in_progress"
    )
    await client.conferences.wait_until_complete(sid, timeout=30, poll_interval=5)
    assert len(fake.requests) == 1


async def test_waits_follow_the_schedule_and_honour_retry_after(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Polls are never closer than the schedule's waits; a 429's Retry-After stretches one."""
    client = make_client(retry=RetryPolicy.disabled())
    sid = _in_progress(fake)
    fake.data.processing.settle_after(sid, polls=3)
    # The second poll is throttled with Retry-After: 1 (the transport does not retry here):
    # the fault is queued as the first poll arrives, long before the waiter polls again.

    async def throttle_the_second_poll() -> None:
        await fake.wait_for_requests(1)
        fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="1"), count=1)

    async with asyncio.timeout(PATIENCE), asyncio.TaskGroup() as tasks:
        tasks.create_task(throttle_the_second_poll())
        summary = await client.conferences.wait_until_complete(
            sid, timeout=PATIENCE, poll_interval=0.05, max_poll_interval=0.1
        )
    assert summary.to_dict()["processing_state"] == "complete"
    # Polls: in_progress, 429 (Retry-After 1), in_progress, in_progress, complete.
    assert [r.status for r in fake.requests] == [200, 429, 200, 200, 200]
    arrivals = [r.received_at for r in fake.requests]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # A loaded machine only makes gaps longer: the lower bounds are exact claims.
    # 0.05, then Retry-After 1 (not the schedule's 0.075), then 0.1125 capped at 0.1.
    for gap, wait in zip(gaps, [0.05, 1.0, 0.1, 0.1], strict=True):
        assert gap >= wait, gaps


async def test_deadline_raises_a_typed_timeout_error(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """A summary that never settles ends in WaitTimeoutError, which is also a TimeoutError."""
    sid = _in_progress(fake)
    with pytest.raises(TimeoutError) as caught:
        await client.conferences.wait_until_complete(sid, timeout=0.2, poll_interval=0.05)
    error = caught.value
    assert isinstance(error, WaitTimeoutError)
    assert error.last_state == "in_progress"
    assert error.polls >= 1
    assert sid in str(error)
    assert fake.auth_token not in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.polls, copy.last_state, str(copy)) == (error.polls, error.last_state, str(error))


async def test_not_found_is_polled_through_until_the_deadline(
    fake: FakeTwilio, client: InsightsClient
) -> None:
    """A conference Insights does not know yet is polled again; the timeout names the 404."""
    with pytest.raises(WaitTimeoutError) as caught:
        await client.conferences.wait_until_complete(
            "CF" + "0" * 32, timeout=0.2, poll_interval=0.05
        )
    assert "404" in str(caught.value)
    assert caught.value.last_state is None


async def test_a_permanent_error_is_raised_at_once(fake: FakeTwilio) -> None:
    """Bad credentials are not waited out: the 401 surfaces after one request."""
    async with InsightsClient(
        fake.account_sid,
        "wrong-token",
        insights_base_url=fake.insights_base_url,
        api_base_url=fake.api_base_url,
    ) as client:
        with pytest.raises(AuthenticationError):
            await client.conferences.wait_until_complete(
                _in_progress(fake), timeout=30, poll_interval=0.01
            )
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"poll_interval": 0},
        {"poll_interval": float("nan")},
        {"poll_interval": 5, "max_poll_interval": 1},
    ],
)
async def test_bad_arguments_fail_before_any_request(
    fake: FakeTwilio, client: InsightsClient, options: dict[str, float]
) -> None:
    """Non-positive, non-finite or inconsistent durations are a ValueError, nothing is sent."""
    with pytest.raises(InvalidArgumentError):
        await client.conferences.wait_until_complete(_in_progress(fake), **options)
    with pytest.raises(InvalidArgumentError):
        await client.conferences.wait_until_complete("not-a-sid")
    assert fake.requests == []


async def test_fake_settles_over_time(fake: FakeTwilio, client: InsightsClient) -> None:
    """A conference the fake settles after a delay is returned once the delay has passed."""
    now = [1000.0]
    # The fake's settling on a clock the test moves: no race against the machine's speed.
    fake.data.processing = ProcessingStates(fake.data, clock=lambda: now[0])
    sid = _in_progress(fake)
    fake.data.processing.settle_after(sid, seconds=5.0)
    now[0] += 4.9
    summary = await client.participant_summaries.list(sid).collect()
    assert {s.to_dict()["processing_state"] for s in summary} == {"in_progress"}
    async with asyncio.TaskGroup() as tasks:
        waiting = tasks.create_task(
            client.conferences.wait_until_complete(sid, timeout=PATIENCE, poll_interval=0.01)
        )
        await wait_until(lambda: fake.requests[-1].path == f"/v1/Conferences/{sid}", "a poll")
        assert not waiting.done()
        now[0] += 0.1
    assert waiting.result().to_dict()["processing_state"] == "complete"
    participants = await client.participant_summaries.list(sid).collect()
    assert {s.to_dict()["processing_state"] for s in participants} == {"complete"}


def test_fake_settle_all_leaves_nothing_in_progress() -> None:
    """settle_all() settles every in-progress conference and its participant summaries."""
    data = FakeData(conferences=200, seed=3)
    pending = data.processing.unsettled()
    assert pending
    assert data.processing.settle_all() == len(pending)
    assert data.processing.unsettled() == []
    for sid in pending:
        assert {p["processing_state"] for p in data.participant_summaries[sid]} <= {"complete"}


def test_fake_settling_refuses_what_it_cannot_do() -> None:
    """The fake's settling commands say what is wrong instead of doing something else."""
    data = FakeData(conferences=50, seed=3)
    processing = data.processing
    sid = processing.unsettled()[0]
    with pytest.raises(ValueError, match="state must be one of"):
        processing.settle_after(sid, polls=1, state="in_progress")
    with pytest.raises(KeyError):
        processing.settle_after("CF" + "0" * 32, polls=1)
    with pytest.raises(ValueError, match="exactly one of polls= and seconds="):
        processing.settle_after(sid)
    with pytest.raises(ValueError, match="polls must be >= 0"):
        processing.settle_after(sid, polls=-1)
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        processing.settle_after(sid, seconds=-1.0)
    assert sid in processing.unsettled()
    processing.settle_after(sid, polls=0, state="timeout")
    assert sid not in processing.unsettled()
    assert data.conference(sid)["processing_state"] == "timeout"  # type: ignore[index]


def test_fake_settle_all_later_settles_when_the_time_has_come() -> None:
    """settle_all(seconds=...) leaves everything in progress until the clock passes it."""
    now = [1000.0]
    data = FakeData(conferences=50, seed=3)
    processing = ProcessingStates(data, clock=lambda: now[0])
    pending = processing.unsettled()
    assert pending
    assert processing.settle_all(seconds=3600) == len(pending)
    now[0] += 3599.0
    processing.tick()
    assert processing.unsettled() == pending
    now[0] += 1.0
    processing.tick()
    assert processing.unsettled() == []
