"""Conformance against Prism (Stoplight's mock server) driven by Twilio's reference files.

Run by ``nox -s conformance``, which installs Prism and passes its path::

    python -m tests.prism_conformance --prism PATH/TO/prism [--dynamic-responses 300]

Prism serves both reference files on 127.0.0.1. Through the SDK's real resources:

* **static**: every example response of every operation (chosen with Prism's
  ``Prefer: example=NAME``) decodes with no problem and ``to_dict()`` equals the example;
* **dynamic** (``Prefer: dynamic=true``): random responses that conform to the schemas,
  at least ``--dynamic-responses`` of them, give 0 record failures, and every record's
  ``to_dict()`` equals the JSON received (captured through an aiohttp trace).

Exits 1 with a one-line reason per failure. Prism is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from tests import reference
from twilio_conf_insights import (
    ConferenceSummary,
    InsightsClient,
    Participant,
    ParticipantSummary,
    RetryPolicy,
)
from twilio_conf_insights._models import TwilioModel

ACCOUNT = "AC" + "0123456789abcdef" * 2
CONFERENCE = "CF" + "0123456789abcdef" * 2
PARTICIPANT = "CP" + "0123456789abcdef" * 2
CALL = "CA" + "0123456789abcdef" * 2

#: One resource call per operation of the reference files: path -> (model, items key, call).
Call = Callable[[InsightsClient], Awaitable[list[TwilioModel]]]


async def _first_page(listing: Any) -> list[TwilioModel]:
    async with contextlib.aclosing(listing.pages()) as pages:
        async for page in pages:
            return list(page.items)
    return []


async def _one(fetched: Awaitable[TwilioModel]) -> list[TwilioModel]:
    return [await fetched]


OPERATIONS: dict[str, tuple[type[TwilioModel], str | None, Call]] = {
    "/v1/Conferences/{ConferenceSid}": (
        ConferenceSummary,
        None,
        lambda c: _one(c.conferences.fetch(CONFERENCE)),
    ),
    "/v1/Conferences": (
        ConferenceSummary,
        "conferences",
        lambda c: _first_page(c.conferences.list(page_size=50)),
    ),
    "/v1/Conferences/{ConferenceSid}/Participants/{ParticipantSid}": (
        ParticipantSummary,
        None,
        lambda c: _one(c.participant_summaries.fetch(CONFERENCE, PARTICIPANT)),
    ),
    "/v1/Conferences/{ConferenceSid}/Participants": (
        ParticipantSummary,
        "participants",
        lambda c: _first_page(c.participant_summaries.list(CONFERENCE, page_size=50)),
    ),
    "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/Participants/{CallSid}.json": (
        Participant,
        None,
        lambda c: _one(c.participants.fetch(CONFERENCE, CALL)),
    ),
    "/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/Participants.json": (
        Participant,
        "participants",
        lambda c: _first_page(c.participants.list(CONFERENCE, page_size=50)),
    ),
}


@dataclass
class Tally:
    """What the run saw."""

    responses: int = 0
    records: int = 0
    records_with_problems: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failures.append(message)
        print(f"FAIL {message}", file=sys.stderr)


# -- Prism ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def prism(binary: Path, spec: Path, log: Path) -> Iterator[str]:
    """Prism serving ``spec`` on 127.0.0.1; yields its origin and stops it by its PID."""
    port = _free_port()
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(binary), "mock", "--host", "127.0.0.1", "--port", str(port), str(spec)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 180
        while "Prism is listening" not in log.read_text(errors="replace"):
            if process.poll() is not None:
                raise RuntimeError(f"Prism exited with {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Prism did not start within 180 s; see {log}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# -- the checks ----------------------------------------------------------------------------


def _capture_bodies() -> tuple[aiohttp.TraceConfig, dict[str, bytearray]]:
    """A trace that keeps each response body as received, in request order."""
    bodies: dict[str, bytearray] = {}
    trace = aiohttp.TraceConfig()

    async def start(_: Any, ctx: SimpleNamespace, params: Any) -> None:
        ctx.buffer = bodies[str(params.url)] = bytearray()

    async def chunk(_: Any, ctx: SimpleNamespace, params: Any) -> None:
        ctx.buffer += params.chunk

    trace.on_request_start.append(start)
    trace.on_response_chunk_received.append(chunk)
    return trace, bodies


@contextlib.asynccontextmanager
async def _client(
    insights: str, api: str, headers: dict[str, str], *, strict: bool = False
) -> AsyncIterator[tuple[InsightsClient, dict[str, bytearray]]]:
    trace, bodies = _capture_bodies()
    async with (
        aiohttp.ClientSession(headers=headers, trace_configs=[trace]) as session,
        InsightsClient(
            ACCOUNT,
            "prism-does-not-check-the-token",
            insights_base_url=insights,
            api_base_url=api,
            session=session,
            retry=RetryPolicy(max_attempts=1),
            strict=strict,
        ) as client,
    ):
        yield client, bodies


def _expected_records(body: Any, items_key: str | None) -> list[Any]:
    if items_key is None:
        return [body]
    return list(body.get(items_key) or [])


def _check(
    tally: Tally, what: str, records: list[TwilioModel], expected: list[Any], *, clean: bool
) -> None:
    tally.responses += 1
    tally.records += len(records)
    got = [record.to_dict() for record in records]
    if json.dumps(got) != json.dumps(expected):
        tally.fail(f"{what}: to_dict() differs from the JSON received")
    for index, record in enumerate(records):
        if record.problems:
            tally.records_with_problems += 1
            if clean:
                tally.fail(f"{what}[{index}]: problems in a documented example: {record.problems}")


def _received(bodies: dict[str, bytearray]) -> Any:
    """The first response body of a call (a listing may have prefetched a second page)."""
    raw = next(iter(bodies.values()), b"")
    return json.loads(raw) if raw else None


async def check_static(insights: str, api: str, tally: Tally) -> None:
    """Every example of every operation: decodes cleanly and round-trips exactly.

    ``to_dict()`` must equal the bytes Prism sent exactly, and the example in the reference
    file by value (Prism re-serialises the example in JavaScript, which writes ``4.0`` as
    ``4``).
    """
    for spec_name in (reference.INSIGHTS_SPEC, reference.TWILIO_2010_SPEC):
        spec = reference.load_spec(spec_name)
        for path, operations in spec["paths"].items():
            model, items_key, call = OPERATIONS[path]
            content = operations["get"]["responses"]["200"]["content"]["application/json"]
            for name, example in content["examples"].items():
                what = f"static {path} example {name!r}"
                headers = {"Prefer": f"example={name}"}
                async with _client(insights, api, headers) as (client, bodies):
                    try:
                        records = await call(client)
                    except Exception as exc:
                        tally.fail(f"{what}: {type(exc).__name__}: {exc}")
                        continue
                body = _received(bodies)
                if body is None:
                    tally.fail(f"{what}: the response body was not captured")
                    continue
                _check(tally, what, records, _expected_records(body, items_key), clean=True)
                documented = _expected_records(example["value"], items_key)
                if [record.to_dict() for record in records] != documented:
                    tally.fail(f"{what}: the records differ from the documented example")
                if any(type(record) is not model for record in records):
                    tally.fail(f"{what}: not decoded into {model.__name__}")


async def check_dynamic(
    insights: str, api: str, tally: Tally, wanted: int, *, strict: bool
) -> None:
    """Random schema-conforming responses: no record may fail, every one round-trips."""
    headers = {"Prefer": "dynamic=true"}
    done = 0
    async with _client(insights, api, headers, strict=strict) as (client, bodies):
        while done < wanted:
            for path, (_, items_key, call) in OPERATIONS.items():
                what = f"dynamic {path} #{done}"
                bodies.clear()
                try:
                    records = await call(client)
                except Exception as exc:
                    tally.fail(f"{what}: {type(exc).__name__}: {exc}")
                    done += 1
                    continue
                body = _received(bodies)
                if body is None:
                    tally.fail(f"{what}: the response body was not captured")
                else:
                    _check(tally, what, records, _expected_records(body, items_key), clean=False)
                done += 1


async def run(binary: Path, wanted: int, logs: Path, *, strict: bool = False) -> Tally:
    """Start Prism for both reference files and run both checks."""
    directory = reference.reference_dir()
    tally = Tally()
    with (
        prism(binary, directory / reference.INSIGHTS_SPEC, logs / "prism-insights.log") as ins,
        prism(binary, directory / reference.TWILIO_2010_SPEC, logs / "prism-2010.log") as api,
    ):
        await check_static(ins, api, tally)
        static = tally.responses
        await check_dynamic(ins, api, tally, wanted, strict=strict)
    print(
        f"static examples: {static} responses; dynamic: {tally.responses - static} responses; "
        f"{tally.records} records, {tally.records_with_problems} with values read as None "
        f"(listed in problems); {len(tally.failures)} failures"
    )
    return tally


def main(argv: list[str] | None = None) -> int:
    """Command line entry: exit 0 when every check passed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prism", type=Path, required=True, help="the prism executable")
    parser.add_argument("--dynamic-responses", type=int, default=300)
    parser.add_argument("--logs", type=Path, default=Path("."), help="where Prism logs go")
    parser.add_argument(
        "--strict", action="store_true", help="decode dynamic responses with strict=True"
    )
    args = parser.parse_args(argv)
    try:
        reference.reference_dir()
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.logs.mkdir(parents=True, exist_ok=True)
    # Dynamic responses carry random strings in timestamp fields: one WARNING per record
    # would drown the summary; the count is printed instead.
    logging.getLogger("twilio_conf_insights").setLevel(logging.ERROR)
    tally = asyncio.run(run(args.prism, args.dynamic_responses, args.logs, strict=args.strict))
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
