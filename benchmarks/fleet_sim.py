"""Many workers, one account, by simulation: independent limiters against a shared budget.

    python benchmarks/fleet_sim.py                      # N = 3, 10, 30, 100 at cap 16 and 64
    python benchmarks/fleet_sim.py --workers 3,100 --caps 16 --seeds 1

Pure logic on a fake clock (no I/O, no sleeping): a server that answers 429 above a fixed
number of the account's requests in flight, and N workers with the same work each. Each
worker runs ``demand`` requests at once (the client's default ``max_concurrency``, 32)
until its share of the work is done, and retries a 429 after the SDK's throttled backoff.

* **independent**: each worker has today's limiter: the control law of
  :mod:`twilio_conf_insights._throttle` (``LimitController``) on its own requests in flight.
* **shared**: one budget for the fleet (:class:`~twilio_conf_insights.distributed._fleet.LeaseTable`
  with a :class:`~twilio_conf_insights.distributed._fleet.FleetLaw`), the same law on the
  fleet's total; every acquire, release and report is a message to it and back (a Redis
  round trip, ``redis_rtt``). A worker asks for as many leases as it has requests waiting,
  gives a lease back and asks for the next in one message, and a worker that was refused
  asks again when the budget wakes it (a lease came free) or after ``poll`` seconds.

Measured per run: utilisation of the cap (the server's mean requests in flight over the
cap, until the last worker finished), the share of responses that were 429, and the
spread of completion times (the last worker's finish over the first's). Writes
``benchmarks/results/fleet_sim.json``, ``fleet_sim.md`` and ``fleet_sim.png`` (the chart;
drawn with matplotlib when installed, else only the Markdown table is written).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twilio_conf_insights import ThrottlePolicy  # noqa: E402
from twilio_conf_insights._throttle import LimitController  # noqa: E402
from twilio_conf_insights.distributed._fleet import (  # noqa: E402
    REMAINDER_TURN,
    FleetLaw,
    Grant,
    LeaseTable,
    fleet_policy,
    keeps,
    kept_level,
)

RESULTS = ROOT / "benchmarks" / "results"
#: Targets of the shared budget at the largest fleet.
UTILISATION = 0.90
THROTTLED_SHARE = 0.02


@attrs.frozen(kw_only=True)
class Setup:
    """One simulated run's parameters."""

    workers: int
    cap: int
    shared: bool
    #: The shared budget pinned at the cap (the law off): the fleet tuned by hand.
    tuned: bool = False
    seed: int = 1
    #: Requests each worker keeps going at once (the client's max_concurrency).
    demand: int = 32
    #: The whole fleet's work, as seconds of the cap fully used (split evenly).
    work_seconds: float = 20.0
    #: Server time of a request, and its jitter (a uniform factor in [1 - j, 1 + j]).
    latency: float = 0.020
    jitter: float = 0.25
    #: One way between a worker and Twilio (the server counts a request a little less
    #: long than the client).
    network: float = 0.0005
    #: A round trip to the shared budget (Redis).
    redis_rtt: float = 0.0005
    #: A refused worker asks again after this long if nothing woke it.
    poll: float = 0.1
    #: The SDK's backoff scale after a 429 (full jitter, doubling per retry).
    throttled_backoff: float = 0.05


@attrs.frozen
class Outcome:
    """What one run measured."""

    utilisation: float
    throttled_share: float
    spread: float
    wall: float
    requests: int
    redis_calls: int


class Clock:
    """The fake clock and its event queue."""

    def __init__(self) -> None:
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._serial = 0

    def __call__(self) -> float:
        return self.now

    def at(self, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay`` seconds from now."""
        self._serial += 1
        heapq.heappush(self._queue, (self.now + delay, self._serial, action))

    def run(self) -> None:
        """Run every event in time order."""
        while self._queue:
            self.now, _, action = heapq.heappop(self._queue)
            action()


class Server:
    """The account's cap: a request beyond ``cap`` in flight is answered 429."""

    def __init__(self, clock: Clock, setup: Setup, rng: random.Random) -> None:
        self._clock, self._setup, self._rng = clock, setup, rng
        self.in_flight = 0
        self.busy = 0.0  # integral of requests in flight over time
        self._since = 0.0
        self.responses = 0
        self.throttled = 0

    def _account(self) -> None:
        self.busy += self.in_flight * (self._clock.now - self._since)
        self._since = self._clock.now

    def request(self, answer: Callable[[bool], None]) -> None:
        """A request arrives; ``answer(ok)`` is called when its response arrives back."""
        setup = self._setup
        duration = setup.latency * self._rng.uniform(1 - setup.jitter, 1 + setup.jitter)
        admitted = self.in_flight < setup.cap
        if admitted:
            self._account()
            self.in_flight += 1
        self.responses += 1
        self.throttled += not admitted

        def respond() -> None:
            if admitted:
                self._account()
                self.in_flight -= 1
            self._clock.at(setup.network, lambda: answer(admitted))

        self._clock.at(duration, respond)


class Slot:
    """A granted slot: its level and generation (and the shared budget's lease)."""

    __slots__ = ("generation", "lease", "level")

    def __init__(self, level: int, generation: int, lease: str = "") -> None:
        self.level, self.generation, self.lease = level, generation, lease


class Gate:
    """How a worker gets slots: its own limiter, or the shared budget."""

    def acquire(self, granted: Callable[[Slot], None]) -> None:
        """Call ``granted`` with a slot, now or later."""
        raise NotImplementedError

    def release(self, slot: Slot, throttled: bool) -> None:
        """Give ``slot`` back with its request's outcome."""
        raise NotImplementedError


class LocalGate(Gate):
    """Today's limiter: the law on this worker's own requests in flight, FIFO waiters."""

    def __init__(self, clock: Clock, setup: Setup) -> None:
        self._control = LimitController(setup.demand, ThrottlePolicy(), clock)
        self._in_flight = 0
        self._waiters: deque[Callable[[Slot], None]] = deque()

    def acquire(self, granted: Callable[[Slot], None]) -> None:
        self._waiters.append(granted)
        self._wake()

    def release(self, slot: Slot, throttled: bool) -> None:
        self._in_flight -= 1
        if throttled:
            self._control.on_throttle(slot.level, slot.generation)
        else:
            self._control.on_success(slot.level)
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._in_flight < self._control.limit:
            self._in_flight += 1
            self._waiters.popleft()(Slot(self._in_flight, self._control.generation))


class Budget:
    """The shared budget (what Redis holds): the lease table and the fleet's law."""

    def __init__(self, clock: Clock, setup: Setup) -> None:
        if setup.tuned:
            self.law = FleetLaw(setup.cap, ThrottlePolicy(enabled=False), clock)
        else:
            # As SharedBudget runs it, by default.
            self.law = FleetLaw(setup.demand * setup.workers, fleet_policy(None), clock)
        self.table = LeaseTable(self.law, lease_ttl=3600.0, wait_ttl=4 * setup.poll)
        self.gates: dict[str, SharedGate] = {}
        self.calls = 0

    def wake(self, now: float, releaser: str) -> None:
        """Leases are free that ``releaser`` did not take: wake the next in line."""
        for member in self.table.next_in_line(now, besides=releaser):
            self.gates[member].woken()

    def acquire(self, member: str, count: int, now: float) -> tuple[list[Grant], int, int]:
        """``LeaseTable.acquire``, as the scripts do it: a member that starts waiting tells
        those above the floor share the new shares; the grants, the quota and the share.
        """
        table = self.table
        was_waiting = member in table.waiting(now)
        grants = table.acquire(member, count, now)
        if len(grants) < count and not was_waiting:
            floor, share = table.shares(now)
            for other in table.over_share(now):
                self.gates[other].yielded(floor, share)
        return grants, table.quota(member, now), table.share(member, now)


class SharedGate(Gate):
    """A worker's side of the shared budget, as ``distributed/_member.py`` behaves.

    One message per acquire, release + next; a worker standing in line asks only when
    woken or when its poll comes (after ``poll``, twice that after a refused poll); within
    its quota (each answer's) a worker hands an ending request's lease to one of its own
    waiting requests without a message;
    a worker whose requests were all served so while it stood in line asks for none, which
    takes it out of the line.
    """

    def __init__(self, name: str, clock: Clock, setup: Setup, budget: Budget) -> None:
        self._name, self._clock, self._setup, self._budget = name, clock, setup, budget
        self._waiters: deque[Callable[[Slot], None]] = deque()
        self._asked = 0  # leases asked for in messages not answered yet
        self._poll_due = False
        self._held = 0
        self._quota = 0
        self._share = 0
        self._turn_ends = 0.0  # the end of its turn at the remainder
        self._fleet_in_flight = 0  # as the last answer said: a kept lease's level
        self._in_line = False
        self._poll_delay = setup.poll
        budget.gates[name] = self

    def acquire(self, granted: Callable[[Slot], None]) -> None:
        self._waiters.append(granted)
        self._ask()

    def release(self, slot: Slot, throttled: bool) -> None:
        half = self._setup.redis_rtt / 2
        budget = self._budget
        kept = keeps(
            held=self._held,
            quota=self._quota,
            share=self._share,
            in_turn=self._clock.now < self._turn_ends,
        )
        if not throttled and self._waiters and kept:
            # Kept for a request waiting here; the outcome still goes to the law (the
            # member carries it on its next call: here, at once, as one message).
            level = kept_level(
                fleet_in_flight=self._fleet_in_flight, limit=budget.law.limit, quota=self._quota
            )
            self._waiters.popleft()(Slot(level, budget.law.generation, slot.lease))
            if budget.law.may_grow(level):
                # A call only when the outcome moves the law (the member's report).
                def report() -> None:
                    budget.calls += budget.law.on_success(level)

                self._clock.at(half, report)
            if not self._waiters and self._in_line:
                self._ask()
            return
        self._held -= 1
        more = self._wanted()
        self._asked += more

        def at_budget() -> None:
            budget.calls += 1
            if throttled:
                before = budget.law.limit
                budget.law.on_throttle(slot.level, slot.generation)
                if budget.law.limit < before:  # a cut: no member keeps leases until told
                    for name, gate in budget.gates.items():
                        if name != self._name and budget.table.held(name):
                            gate.yielded()
                    self._quota = self._share = 0
            else:
                budget.law.on_success(slot.level)
            budget.table.release(slot.lease, self._clock.now)
            if more:
                grants, quota, share = budget.acquire(self._name, more, self._clock.now)
            else:
                grants = []
                quota = budget.table.quota(self._name, self._clock.now)
                share = budget.table.share(self._name, self._clock.now)
            budget.wake(self._clock.now, self._name)
            in_flight = budget.table.in_flight(self._clock.now)
            self._clock.at(half, lambda: self._granted(grants, more, quota, share, in_flight))

        self._clock.at(half, at_budget)

    def woken(self) -> None:
        """The budget says a lease came free."""
        self._clock.at(self._setup.redis_rtt / 2, lambda: self._ask(turn=True))

    def yielded(self, floor: int = 0, share: int = 0) -> None:
        """Another worker started waiting (its new ``floor`` share and ``share``), or the
        limit was cut (none): keep to them until the next answer."""
        self._clock.at(self._setup.redis_rtt / 2, lambda: self._keep_to(floor, share))

    def _keep_to(self, floor: int, share: int) -> None:
        self._quota = min(self._quota, floor)
        self._share = min(self._share, share)

    def _wanted(self) -> int:
        return max(0, len(self._waiters) - self._asked)

    def _ask(self, *, turn: bool = False) -> None:
        more = self._wanted()
        if self._asked or not (more or (self._in_line and not self._waiters)):
            return
        if more and self._in_line and not turn:
            return  # standing in line: a wake or the poll asks
        self._asked += more
        half = self._setup.redis_rtt / 2

        def at_budget() -> None:
            self._budget.calls += 1
            grants, quota, share = self._budget.acquire(self._name, more, self._clock.now)
            in_flight = self._budget.table.in_flight(self._clock.now)
            self._clock.at(half, lambda: self._granted(grants, more, quota, share, in_flight))

        self._clock.at(half, at_budget)

    def _granted(
        self, grants: list[Grant], asked: int, quota: int, share: int, in_flight: int
    ) -> None:
        self._asked -= asked
        self._quota = quota
        self._share = share
        self._fleet_in_flight = in_flight
        if self._held <= quota < self._held + len(grants):
            self._turn_ends = self._clock.now + REMAINDER_TURN  # a lease of the remainder
        if grants:
            self._poll_delay = self._setup.poll
        if asked:
            self._in_line = len(grants) < asked
        self._held += len(grants)
        for grant in grants:
            if self._waiters:
                self._waiters.popleft()(Slot(grant.level, grant.generation, grant.lease))
            else:  # nobody wants it any more: give it straight back
                self._held -= 1
                self._budget.table.release(grant.lease, self._clock.now)
        if self._wanted() and not self._poll_due:
            self._poll_due = True

            def poll() -> None:
                self._poll_due = False
                self._poll_delay = min(2 * self._poll_delay, 2 * self._setup.poll)
                self._ask(turn=True)

            self._clock.at(self._poll_delay, poll)


class Worker:
    """``demand`` loops of requests until this worker's share of the work is done."""

    def __init__(
        self, clock: Clock, setup: Setup, gate: Gate, server: Server, work: int, rng: random.Random
    ) -> None:
        self._clock, self._setup, self._gate, self._server = clock, setup, gate, server
        self._left = work
        self._rng = rng
        self._running = 0
        self.finished: float | None = None

    def start(self) -> None:
        """Start the loops."""
        for _ in range(self._setup.demand):
            self._next()

    def _next(self) -> None:
        if self._left == 0:
            if self._running == 0 and self.finished is None:
                self.finished = self._clock.now
            return
        self._left -= 1
        self._running += 1
        self._attempt(1)

    def _attempt(self, number: int) -> None:
        def send(slot: Slot) -> None:
            def sent() -> None:
                self._server.request(answered)

            def answered(ok: bool) -> None:
                self._gate.release(slot, throttled=not ok)
                if ok:
                    self._running -= 1
                    self._next()
                else:
                    wait = self._rng.uniform(
                        0, self._setup.throttled_backoff * 2 ** min(number - 1, 8)
                    )
                    self._clock.at(wait, lambda: self._attempt(number + 1))

            self._clock.at(self._setup.network, sent)

        self._gate.acquire(send)


def simulate(setup: Setup) -> Outcome:
    """Run one fleet against the capped server; what it measured."""
    rng = random.Random(setup.seed)
    clock = Clock()
    server = Server(clock, setup, rng)
    total = round(setup.work_seconds * setup.cap / setup.latency)
    budget = Budget(clock, setup) if setup.shared else None
    workers = []
    for index in range(setup.workers):
        gate: Gate = (
            SharedGate(f"w{index}", clock, setup, budget)
            if budget is not None
            else LocalGate(clock, setup)
        )
        work = total // setup.workers + (index < total % setup.workers)
        workers.append(Worker(clock, setup, gate, server, work, rng))
    for index, worker in enumerate(workers):
        # Workers start within the first 50 ms, not in lockstep.
        clock.at(0.05 * index / setup.workers, worker.start)
    clock.run()
    finishes = [w.finished for w in workers if w.finished is not None]
    assert len(finishes) == setup.workers, "every worker finishes"
    wall = max(finishes)
    return Outcome(
        utilisation=server.busy / (setup.cap * wall),
        throttled_share=server.throttled / server.responses,
        spread=max(finishes) / min(finishes),
        wall=wall,
        requests=server.responses,
        redis_calls=budget.calls if budget is not None else 0,
    )


#: The three ways a fleet is run: its name, and Setup's (shared, tuned).
MODES = {"own": (False, False), "shared": (True, False), "tuned": (True, True)}
LABELS = {
    "own": "one limiter each",
    "shared": "shared budget",
    "tuned": "budget pinned at the cap",
}


def _row(workers: int, cap: int, mode: str, seeds: Sequence[int]) -> dict[str, Any]:
    shared, tuned = MODES[mode]
    runs = [
        simulate(Setup(workers=workers, cap=cap, seed=seed, shared=shared, tuned=tuned))
        for seed in seeds
    ]
    row: dict[str, Any] = {"workers": workers, "cap": cap, "mode": mode}
    for field in ("utilisation", "throttled_share", "spread", "wall"):
        row[field] = statistics.median(getattr(run, field) for run in runs)
    row["requests"] = statistics.median(run.requests for run in runs)
    row["redis_calls_per_request"] = statistics.median(
        run.redis_calls / run.requests for run in runs
    )
    return row


def _markdown(rows: list[dict[str, Any]], verdicts: list[str]) -> str:
    out = [
        "| cap | workers | limiter | utilisation of the cap | 429s | slowest / fastest "
        "| budget calls per request |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        label = LABELS[row["mode"]]
        calls = f"{row['redis_calls_per_request']:.2f}" if row["mode"] != "own" else "-"
        out.append(
            f"| {row['cap']} | {row['workers']} | {label} | {row['utilisation']:.1%} | "
            f"{row['throttled_share']:.1%} | {row['spread']:.2f}x | {calls} |"
        )
    return "\n".join([*out, "", *verdicts]) + "\n"


def _chart(rows: list[dict[str, Any]], path: Path) -> bool:
    """Utilisation and 429 share against the fleet's size; ``False`` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    caps = sorted({row["cap"] for row in rows})
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    colours = {"own": "tab:red", "shared": "tab:blue", "tuned": "tab:grey"}
    for cap, style in zip(caps, ("-", "--", ":", "-."), strict=False):
        for mode, colour in colours.items():
            picked = [r for r in rows if r["cap"] == cap and r["mode"] == mode]
            sizes = [r["workers"] for r in picked]
            label = f"cap {cap}, {LABELS[mode]}"
            for axis, field, scale in (
                (axes[0], "utilisation", 100),
                (axes[1], "throttled_share", 100),
                (axes[2], "spread", 1),
            ):
                axis.plot(
                    sizes,
                    [r[field] * scale for r in picked],
                    style,
                    color=colour,
                    marker="o",
                    label=label,
                )
    titles = ("utilisation of the cap (%)", "responses answered 429 (%)", "slowest / fastest")
    for axis, title in zip(axes, titles, strict=True):
        axis.set_xscale("log")
        axis.set_xticks([3, 10, 30, 100], ["3", "10", "30", "100"])
        axis.set_xlabel("workers")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    axes[0].axhline(UTILISATION * 100, color="grey", linewidth=0.8)
    axes[1].set_yscale("symlog", linthresh=1)
    axes[1].set_ylim(bottom=0)
    axes[1].axhline(THROTTLED_SHARE * 100, color="grey", linewidth=0.8)
    axes[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Simulate every fleet size and cap, both ways; print and write the results."""
    parser = argparse.ArgumentParser(prog="python benchmarks/fleet_sim.py", description=__doc__)
    numbers = lambda text: [int(part) for part in text.split(",")]  # noqa: E731
    parser.add_argument("--workers", type=numbers, default=[3, 10, 30, 100])
    parser.add_argument("--caps", type=numbers, default=[16, 64])
    parser.add_argument("--seeds", type=int, default=3, help="runs per cell (median)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args(argv)
    seeds = range(1, options.seeds + 1)
    rows = []
    for cap in options.caps:
        for workers in options.workers:
            for mode in MODES:
                rows.append(_row(workers, cap, mode, seeds))
                print(json.dumps(rows[-1]), flush=True)
    largest = max(options.workers)
    verdicts = []
    for row in rows:
        if row["mode"] == "shared" and row["workers"] == largest:
            ok = row["utilisation"] >= UTILISATION and row["throttled_share"] <= THROTTLED_SHARE
            verdicts.append(
                f"{'PASS' if ok else 'MISS'}: shared budget, {largest} workers, cap {row['cap']}: "
                f"utilisation {row['utilisation']:.2%} (>= {UTILISATION:.0%}), "
                f"429s {row['throttled_share']:.2%} (<= {THROTTLED_SHARE:.0%})"
            )
    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / "fleet_sim.json").write_text(json.dumps(rows, indent=2) + "\n")
    (options.output / "fleet_sim.md").write_text(_markdown(rows, verdicts))
    drawn = _chart(rows, options.output / "fleet_sim.png")
    print(_markdown(rows, verdicts))
    print("chart:", "fleet_sim.png" if drawn else "not drawn (matplotlib is not installed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
