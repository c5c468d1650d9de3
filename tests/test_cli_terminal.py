"""What the CLI shows a terminal: safe aligned table cells and the progress line, retries too."""

from __future__ import annotations

import io

from tests.helpers import TerminalStream, cli, fake_env
from twilio_conf_insights import InsightsClient, RetryScheduled
from twilio_conf_insights.cli._output import cell, format_table
from twilio_conf_insights.cli._progress import Progress
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


async def test_retries_are_invisible_but_counted(cli_fake: FakeTwilio) -> None:
    # Transient 503s are retried by the SDK: the command still succeeds.
    """Retried requests do not show in the output; the progress meter counts them."""
    cli_fake.faults.queue(Fault(FaultKind.SERVICE_UNAVAILABLE, retry_after="0"), count=2)
    run = await cli("conferences", "list", "--limit", "1", env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    assert run.jsonl() == cli_fake.data.conferences[:1]

    # The meter counts the client's RetryScheduled events.
    tty = TerminalStream()
    progress = Progress(tty, label="export", enabled=True, interval=0.0)
    cli_fake.faults.queue(Fault(FaultKind.SERVICE_UNAVAILABLE, retry_after="0"), count=2)
    async with InsightsClient(
        cli_fake.account_sid,
        cli_fake.auth_token,
        insights_base_url=cli_fake.insights_base_url,
        hooks=[progress.on_event],
    ) as client:
        await client.conferences.fetch(cli_fake.data.conferences[0]["conference_sid"])
    assert progress.retries == 2


def test_table_cells_are_safe_and_aligned() -> None:
    """Table cells escape control characters and align by display width."""
    assert cell("evil\x1b[2Jname") == "evil\\x1b[2Jname"
    assert cell(None) == ""
    assert cell(True) == "true"
    assert cell(["a", "b"]) == "a, b"
    assert cell({"k": 1}) == '{"k":1}'
    lines = format_table(("name", "n"), [("会议", 5), ("x" * 50, 120)], max_width=10)
    # 会议 is four columns wide; the number column is right-aligned.
    assert lines[2] == "会议" + " " * 10 + "5"
    assert lines[3] == "xxxxxxxxx…  120"


def test_progress_line() -> None:
    """The progress line shows done/total, rate and retries, and clears itself at the end."""
    now = [100.0]
    tty = TerminalStream()
    progress = Progress(tty, label="export", enabled=True, interval=0.5, clock=lambda: now[0])
    with progress:
        now[0] = 102.0
        progress.advance(10, 40)
        progress.on_event(
            RetryScheduled(method="GET", url="u", attempt=1, wait=0.1, cause="503", cause_type="x")
        )
        now[0] = 102.1  # within the interval: no redraw
        progress.advance(1, 1)
    output = tty.getvalue()
    assert output.endswith("\n")
    assert output.count("\n") == 1
    frames = output.rstrip("\n").split("\r")[1:]
    assert frames[0].startswith("export: 0 conferences")
    assert frames[1] == "export: 10 conferences, 40 participants, 5.0/s, 0 retries, 2.0s"
    assert frames[-1].startswith("export: 11 conferences, 41 participants, 5.2/s, 1 retry, 2.1s")

    assert not Progress.on(io.StringIO(), label="x", quiet=False).enabled
    assert not Progress.on(TerminalStream(), label="x", quiet=True).enabled
    silent = io.StringIO()
    with Progress(silent, label="x", enabled=False) as off:
        off.advance()
    assert silent.getvalue() == ""
