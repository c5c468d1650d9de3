"""The CLI's export: JSONL and CSV contents, CSV flattening, files complete or not at all."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
from pathlib import Path

import attrs
import pytest

from tests.helpers import all_participants, cli, fake_env, finish, start_cli, wait_until
from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.cli._export import (
    CONFERENCE_FIELDS,
    PARTICIPANT_FIELDS,
    csv_header,
    flatten,
)
from twilio_conf_insights.cli._files import atomic_output
from twilio_conf_insights.testing import FakeTwilio


def entries(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


async def test_export_jsonl_round_trip(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """`export --with-participants` to JSONL holds every conference with all its participants."""
    out = tmp_path / "calls.jsonl"
    run = await cli("export", "--with-participants", "-o", str(out), env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    # No progress when stderr is not a terminal: only the closing summary line.
    participants = sum(len(ps) for ps in cli_fake.data.participant_summaries.values())
    conferences = len(cli_fake.data.conferences)
    assert run.stderr == f"wrote {conferences} conferences ({participants} participants) to {out}\n"

    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert sorted(line["conference_sid"] for line in lines) == sorted(
        c["conference_sid"] for c in cli_fake.data.conferences
    )
    for line in lines:
        participants = line.pop("participants")
        original = cli_fake.data.conference(line["conference_sid"])
        assert line == original
        assert ConferenceSummary.from_dict(line) == ConferenceSummary.from_dict(original)
        originals = cli_fake.data.participant_summaries[line["conference_sid"]]
        assert participants == originals
        assert [ParticipantSummary.from_dict(p) for p in participants] == [
            ParticipantSummary.from_dict(p) for p in originals
        ]
    assert os.listdir(tmp_path) == ["calls.jsonl"]


async def test_export_csv_flattens_metrics(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """CSV exports flatten nested metrics into one column per leaf."""
    env = fake_env(cli_fake)
    per_participant, per_conference = await asyncio.gather(
        cli("export", "--with-participants", "-o", str(tmp_path / "p.csv"), env=env),
        cli("export", "-o", str(tmp_path / "c.csv"), env=env),
    )
    assert per_participant.returncode == 0, per_participant.stderr
    assert per_conference.returncode == 0, per_conference.stderr

    with (tmp_path / "p.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    for column in (
        "conference_sid",
        "conference_friendly_name",
        "participant_sid",
        "label",
        "inbound_mos",
        "inbound_jitter_avg",
        "inbound_packet_loss_percentage",
        "outbound_mos",
        "outbound_jitter_avg",
        "outbound_packet_loss_percentage",
    ):
        assert column in rows[0]
    expected = {p["participant_sid"]: p for p in all_participants(cli_fake)}
    assert sorted(row["participant_sid"] for row in rows) == sorted(expected)
    for row in rows:
        original = expected[row["participant_sid"]]
        metrics = original["metrics"]
        if metrics is None:
            assert row["inbound_mos"] == row["outbound_jitter_avg"] == ""
        else:
            assert float(row["inbound_mos"]) == metrics["inbound"]["mos"]
            assert float(row["outbound_jitter_avg"]) == metrics["outbound"]["jitter"]["avg"]
            assert (
                float(row["inbound_packet_loss_percentage"])
                == metrics["inbound"]["packet_loss_percentage"]
            )
        assert row["conference_sid"] == original["conference_sid"]
        conference = cli_fake.data.conference(row["conference_sid"])
        assert conference is not None
        assert row["conference_friendly_name"] == conference["friendly_name"]
        assert json.loads(row["conference_tags"] or "null") == conference["tags"]

    with (tmp_path / "c.csv").open(encoding="utf-8", newline="") as stream:
        conferences = list(csv.DictReader(stream))
    assert [row["conference_sid"] for row in conferences] == [
        c["conference_sid"] for c in cli_fake.data.conferences
    ]
    assert conferences[0]["detected_issues_call_quality"] == str(
        cli_fake.data.conferences[0]["detected_issues"]["call_quality"]
    )


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_interrupted_export_leaves_nothing(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    """An export interrupted by SIGINT or SIGTERM exits 130/143 and leaves no partial file."""
    async with FakeTwilio(conferences=60, participants_per_conference=2, seed=3) as fake:
        fake.latency = 0.1  # some 6 s of requests: it cannot end before it is interrupted
        out = tmp_path / "export.jsonl"
        process = await start_cli(
            "--max-concurrency",
            "1",
            "export",
            "--with-participants",
            "-o",
            str(out),
            env=fake_env(fake),
        )

        # Wait until the export is mid-way: its temporary file exists and has content.
        def started_writing() -> bool:
            return process.returncode is not None or any(
                p.stat().st_size > 0 for p in entries(tmp_path)
            )

        await wait_until(started_writing, "the export wrote its first records")
        partial = [p for p in entries(tmp_path) if p.stat().st_size > 0]
        assert process.returncode is None, "the export finished before it was interrupted"
        assert partial and partial[0].name.startswith(".export.jsonl.")
        process.send_signal(signum)
        run = await finish(process)

    assert run.returncode == status, run.stderr
    assert "Traceback" not in run.stderr
    assert entries(tmp_path) == []


async def test_failed_export_keeps_the_previous_file(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """A failed export leaves the previous output file untouched."""
    out = tmp_path / "calls.jsonl"
    out.write_text("previous\n", encoding="utf-8")
    env = fake_env(cli_fake, TWILIO_AUTH_TOKEN="wrong")
    run = await cli("export", "-o", str(out), env=env)
    assert run.returncode == 1
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert os.listdir(tmp_path) == ["calls.jsonl"]


def test_csv_flattening_keeps_unknown_keys() -> None:
    """CSV flattening keeps keys it does not know and non-object values as they are."""
    record = {
        "participant_sid": "CP1",
        "metrics": {
            "inbound": {"mos": 4.1, "jitter": {"avg": 2.5, "max": 9}, "tags": ["silent"]},
            "outbound": None,
        },
        "properties": "not an object",
        "coached_participants": ["CA1"],
        "is_coach": False,
        "brand_new": {"x": 1},
    }
    cells, extra = flatten(record, PARTICIPANT_FIELDS)
    row = dict(zip([field.name for field in PARTICIPANT_FIELDS], cells, strict=True))
    assert row["inbound_mos"] == "4.1"
    assert row["inbound_jitter_avg"] == "2.5"
    assert row["inbound_jitter_max"] == "9"
    assert row["outbound_mos"] == ""
    assert row["coached_participants"] == '["CA1"]'
    assert row["is_coach"] == "false"
    assert row["properties_enter_muted"] == ""
    assert json.loads(extra) == {
        "metrics.inbound.tags": ["silent"],
        "properties": "not an object",
        "brand_new": {"x": 1},
    }
    assert flatten({"conference_sid": "CF1"}, CONFERENCE_FIELDS)[1] == ""
    header = csv_header(with_participants=True)
    assert len(header) == len(set(header))
    assert header[0] == "conference_sid"


def test_csv_columns_cover_every_model_field() -> None:
    """The CSV columns cover every field of the models."""
    for model, fields in (
        (ConferenceSummary, CONFERENCE_FIELDS),
        (ParticipantSummary, PARTICIPANT_FIELDS),
    ):
        top = {field.path[0] for field in fields}
        names = {
            a.metadata.get("json", a.name)
            for a in attrs.fields(model)
            if a.name not in ("extra", "problems", "_raw")
        }
        assert names == top


def test_atomic_output(tmp_path: Path) -> None:
    """Output files appear complete or not at all, even when writing fails."""
    target = tmp_path / "out.txt"
    with atomic_output(target) as stream:
        stream.write("complete\n")
        assert not target.exists()
    assert target.read_text(encoding="utf-8") == "complete\n"

    def interrupted_write() -> None:
        with atomic_output(target) as stream:
            stream.write("partial")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert target.read_text(encoding="utf-8") == "complete\n"
    assert os.listdir(tmp_path) == ["out.txt"]
