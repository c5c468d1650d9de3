"""The fake Twilio in a child process.

A server in the benchmark's own process would share its event loop and its CPU clock with
the client under test, so every measurement would include the server's work. The child
runs :class:`twilio_conf_insights.testing.FakeTwilio` and takes one-line commands on stdin
(``latency 0.02``, ``cap 16 -``, ``reset``, ``requests``, ``throttled``); closing stdin
stops it, so it cannot outlive the runner.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import attrs

if TYPE_CHECKING:
    from twilio_conf_insights import InsightsClient

__all__ = ["ServerInfo", "ServerProcess", "process_cpu_seconds"]

_READY_TIMEOUT = 300.0
_COMMAND_TIMEOUT = 30.0


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time process ``pid`` has used so far (psutil, the bench extra)."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@attrs.frozen
class ServerInfo:
    """What a client needs to reach the fake, and what it holds."""

    #: ``http://127.0.0.1:PORT`` (both the Insights and the 2010 origin).
    origin: str
    account_sid: str
    auth_token: str
    #: Every conference SID, newest first (the order of ``/v1/Conferences``).
    conference_sids: tuple[str, ...]
    #: Participant summaries across all conferences.
    participants: int
    #: The data's "now" (ISO 8601), every timestamp lies before it; "" when unknown.
    now: str = ""

    def client(self, **options: Any) -> InsightsClient:
        """A client of the fake: its credentials, both origins pointed at it, ``options``."""
        from twilio_conf_insights import InsightsClient

        return InsightsClient(
            self.account_sid,
            self.auth_token,
            insights_base_url=self.origin,
            api_base_url=self.origin,
            **options,
        )

    def to_env(self) -> dict[str, str]:
        """The fields for a child process (the token stays out of its argv)."""
        return {
            "BENCH_ORIGIN": self.origin,
            "BENCH_ACCOUNT_SID": self.account_sid,
            "BENCH_AUTH_TOKEN": self.auth_token,
        }

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str]) -> ServerInfo:
        """The inverse of :meth:`to_env` (without the SID list, which children do not need)."""
        return cls(
            origin=env["BENCH_ORIGIN"],
            account_sid=env["BENCH_ACCOUNT_SID"],
            auth_token=env["BENCH_AUTH_TOKEN"],
            conference_sids=(),
            participants=0,
        )


class ServerProcess:
    """Start, steer and stop one FakeTwilio child process (only ever the one it started)."""

    def __init__(
        self,
        *,
        conferences: int,
        participants_per_conference: int,
        seed: int,
        latency: float,
        subaccounts: int = 0,
        now: str | None = None,
        prebuild: bool = True,
    ) -> None:
        self._args = [
            "--conferences",
            str(conferences),
            "--participants-per-conference",
            str(participants_per_conference),
            "--seed",
            str(seed),
            "--latency",
            repr(latency),
            "--subaccounts",
            str(subaccounts),
            *(["--now", now] if now is not None else []),
            *([] if prebuild else ["--lazy"]),
        ]
        self._process: subprocess.Popen[str] | None = None
        self.info: ServerInfo | None = None
        self.latency = latency

    def start(self) -> ServerInfo:
        """Start the child and wait until it serves (data fully built)."""
        command = [sys.executable, str(Path(__file__).resolve()), *self._args]
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        ready = json.loads(self._read_line(_READY_TIMEOUT))
        self.info = ServerInfo(
            origin=ready["origin"],
            account_sid=ready["account_sid"],
            auth_token=ready["auth_token"],
            conference_sids=tuple(ready["conference_sids"]),
            participants=int(ready["participants"]),
            now=ready.get("now", ""),
        )
        return self.info

    def set_latency(self, seconds: float) -> None:
        """Change the per-response delay of the running server."""
        self._command(f"latency {seconds!r}")
        self.latency = seconds

    def reset_stats(self) -> None:
        """Drop the server's request log (it would otherwise grow for the whole run)."""
        self._command("reset")

    def set_cap(self, limit: int | None, retry_after: str | None = None) -> None:
        """Answer 429 above ``limit`` requests in flight (``None``: no cap)."""
        self._command(f"cap {limit or 0} {retry_after or '-'}")

    def request_count(self) -> int:
        """Requests the server received since the last :meth:`reset_stats`."""
        return self._count("requests")

    def throttled_count(self) -> int:
        """Requests answered 429 by the concurrency cap since the last :meth:`reset_stats`."""
        return self._count("throttled")

    def _count(self, command: str) -> int:
        process = self._require()
        assert process.stdin is not None
        process.stdin.write(f"{command}\n")
        process.stdin.flush()
        return int(self._read_line(_COMMAND_TIMEOUT))

    def set_unsettled(self, every: int) -> None:
        """Every ``every``-th conference in progress, the others complete (0: all complete)."""
        self._command(f"unsettled {every}")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the child has used so far (to show what the server costs)."""
        return process_cpu_seconds(self._require().pid)

    def stop(self) -> None:
        """Close the child's stdin (it exits on EOF); terminate it by PID if it lingers."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    def _command(self, line: str) -> str:
        process = self._require()
        assert process.stdin is not None
        process.stdin.write(line + "\n")
        process.stdin.flush()
        answer = self._read_line(_COMMAND_TIMEOUT)
        if answer.split()[:1] != ["ok"]:
            raise RuntimeError(f"fake server refused {line!r}: {answer.strip()!r}")
        return answer

    def _read_line(self, timeout: float) -> str:
        # readline() cannot time out by itself; a helper thread keeps a dead child from
        # hanging the whole run.
        process = self._require()
        assert process.stdout is not None
        stdout = process.stdout
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not result or not result[0]:
            code = process.poll()
            raise RuntimeError(f"fake server did not answer (exit code {code})")
        return result[0]

    def _require(self) -> subprocess.Popen[str]:
        if self._process is None:
            raise RuntimeError("fake server is not running")
        return self._process

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# -- the child ---------------------------------------------------------------------------


async def _serve(options: argparse.Namespace) -> None:
    from datetime import datetime

    from twilio_conf_insights.testing import ConcurrencyCap, FakeTwilio

    fake = FakeTwilio(
        conferences=options.conferences,
        participants_per_conference=options.participants_per_conference,
        seed=options.seed,
        latency=options.latency,
        # Subaccounts hold about 20% of the conferences between them (W8 syncs those).
        subaccount_sid=[f"AC{i:032x}" for i in range(1, options.subaccounts + 1)],
        now=datetime.fromisoformat(options.now) if options.now else None,
    )
    async with fake:
        conference_sids = [conf["conference_sid"] for conf in fake.data.conferences]
        # Participants are generated on first access; build them all now so that the first
        # contestant does not pay for it (unless --lazy: a big data set read only in part).
        participants = 0
        if not options.lazy:
            participants = sum(len(fake.data.participant_summaries[sid]) for sid in conference_sids)
        ready: dict[str, Any] = {
            "origin": fake.insights_base_url.rstrip("/"),
            "account_sid": fake.account_sid,
            "auth_token": fake.auth_token,
            "conference_sids": conference_sids,
            "participants": participants,
            "now": fake.now.isoformat(),
        }
        print(json.dumps(ready), flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command, *arguments = line.split() or [""]
            if command == "latency" and len(arguments) == 1:
                fake.latency = float(arguments[0])
                print("ok", flush=True)
            elif command == "cap" and len(arguments) == 2:
                limit, retry_after = int(arguments[0]), arguments[1]
                fake.concurrency_cap = (
                    ConcurrencyCap(limit, None if retry_after == "-" else retry_after)
                    if limit
                    else None
                )
                print("ok", flush=True)
            elif command == "reset":
                fake.reset_stats()
                print("ok", flush=True)
            elif command == "requests":
                print(len(fake.requests), flush=True)
            elif command == "throttled":
                print(fake.cap_rejections, flush=True)
            elif command == "unsettled" and len(arguments) == 1:
                every = int(arguments[0])
                for index, sid in enumerate(conference_sids):
                    pending = every and index % every == 0
                    fake.data.set_processing_state(sid, "in_progress" if pending else "complete")
                print("ok", flush=True)
            else:
                print(f"unknown command {line.strip()!r}", flush=True)


def _main() -> None:
    parser = argparse.ArgumentParser(description="FakeTwilio for the benchmarks (child process)")
    parser.add_argument("--conferences", type=int, required=True)
    parser.add_argument("--participants-per-conference", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--latency", type=float, required=True)
    parser.add_argument("--subaccounts", type=int, default=0)
    parser.add_argument("--now", help="the data's fixed now, ISO 8601 with offset")
    parser.add_argument("--lazy", action="store_true", help="build participants on request")
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    _main()
