"""The CLI's report: its figures match the served data, its table, and the computation itself."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from typing import Any

import pytest

from tests.helpers import all_participants, cli, fake_env
from twilio_conf_insights import ConferenceReport, ConferenceSummary, ParticipantSummary
from twilio_conf_insights.cli._report import Thresholds, build_report, percentile
from twilio_conf_insights.testing import FakeTwilio


async def test_report_json_matches_the_data(cli_fake: FakeTwilio) -> None:
    """`report --format json` computes its figures from exactly the served data."""
    run = await cli("report", "--format", "json", env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)

    conferences = cli_fake.data.conferences
    participants = list(all_participants(cli_fake))
    assert report["conferences"] == len(conferences)
    assert report["participants"] == len(participants)
    assert report["by_status"] == dict(Counter(c["status"] for c in conferences))
    assert report["by_mixer_region"] == dict(
        Counter(c["mixer_region"] or "(none)" for c in conferences)
    )
    assert report["by_tag"] == dict(Counter(t for c in conferences for t in c["tags"] or ()))
    assert report["incomplete_conferences"] == []

    poor = report["poor_participants"]
    assert report["poor_participants_total"] == len(poor) > 0
    mos = [entry["mos"] for entry in poor if entry["mos"] is not None]
    assert mos == sorted(mos)
    by_sid = {p["participant_sid"]: p for p in participants}
    for entry in poor:
        streams = by_sid[entry["participant_sid"]]["metrics"].values()
        assert entry["mos"] == min(s["mos"] for s in streams)
        assert entry["packet_loss_percentage"] == max(s["packet_loss_percentage"] for s in streams)
        assert entry["jitter_avg"] == max(s["jitter"]["avg"] for s in streams)
        assert entry["mos"] < 3.5 or entry["packet_loss_percentage"] > 1 or entry["jitter_avg"] > 30
    measured = sum(1 for p in participants if p["metrics"])
    assert sum(row["participants"] for row in report["mos_by_region"]) == measured
    for row in report["mos_by_region"]:
        assert 1.0 <= row["p10"] <= row["p50"] <= row["p90"] <= 4.5


async def test_report_table(cli_fake: FakeTwilio) -> None:
    """`report --format table` prints every section heading and the conference count."""
    run = await cli("report", "--format", "table", "--top", "3", env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    assert f"{len(cli_fake.data.conferences)} conferences" in run.stdout
    for heading in ("Conferences by status", "Participants with poor quality", "MOS by"):
        assert heading in run.stdout


async def test_report_thresholds_decide_who_is_poor(cli_fake: FakeTwilio) -> None:
    """--mos-below, --loss-above and --jitter-above set what counts as poor, and are reported."""
    options = ["--mos-below", "4.1", "--loss-above", "0.4", "--jitter-above", "8"]
    run = await cli("report", "--format", "json", *options, env=fake_env(cli_fake))
    default = await cli("report", "--format", "json", env=fake_env(cli_fake))
    assert run.returncode == default.returncode == 0, run.stderr + default.stderr
    report = json.loads(run.stdout)
    assert report["thresholds"] == {"mos_below": 4.1, "packet_loss_above": 0.4, "jitter_above": 8}

    def worse(participant: dict[str, Any]) -> tuple[float, float, float]:
        streams = participant["metrics"].values()
        return (
            min(s["mos"] for s in streams),
            max(s["packet_loss_percentage"] for s in streams),
            max(s["jitter"]["avg"] for s in streams),
        )

    expected = {
        p["participant_sid"]
        for p in all_participants(cli_fake)
        if p["metrics"] and ((m := worse(p))[0] < 4.1 or m[1] > 0.4 or m[2] > 8)
    }
    poor = {entry["participant_sid"] for entry in report["poor_participants"]}
    assert poor == expected
    assert report["poor_participants_total"] == len(expected)
    by_default = {
        entry["participant_sid"] for entry in json.loads(default.stdout)["poor_participants"]
    }
    assert by_default < poor  # stricter thresholds: more participants count as poor


def _summary(sid: str, **fields: Any) -> ConferenceSummary:
    return ConferenceSummary.from_dict({"conference_sid": sid, "friendly_name": sid, **fields})


def _participant(
    sid: str, inbound: dict[str, Any] | None, outbound: dict[str, Any] | None = None, **fields: Any
) -> ParticipantSummary:
    metrics = None if inbound is None else {"inbound": inbound, "outbound": outbound}
    return ParticipantSummary.from_dict({"participant_sid": sid, "metrics": metrics, **fields})


def _stream(mos: float, loss: float = 0.0, jitter: float = 1.0) -> dict[str, Any]:
    return {"mos": mos, "packet_loss_percentage": loss, "jitter": {"avg": jitter, "max": jitter}}


def test_report_computation() -> None:
    """The report's counts, worst-direction quality figures and rankings are computed right."""
    reports = [
        ConferenceReport(
            summary=_summary("CF1", status="completed", mixer_region="us1", tags=["low_mos"]),
            participants=[
                # Worst of the two directions: MOS 3.0 outbound, loss 0.5, jitter 40 inbound.
                _participant("CP1", _stream(4.2, 0.5, 40.0), _stream(3.0, 0.1, 2.0), label="a"),
                _participant("CP2", _stream(4.4), _stream(4.3), participant_region="ie1"),
                _participant("CP3", None),  # never joined: no metrics
            ],
        ),
        ConferenceReport(
            summary=_summary(
                "CF2", status="completed", end_reason="last_participant_left", tags=["low_mos"]
            ),
            participants=[
                _participant("CP4", _stream(4.1, 2.5), conference_region="de1"),
                _participant("CP5", _stream(2.0)),  # no region at all
            ],
        ),
        ConferenceReport(
            summary=_summary("CF3", status="in_progress"),
            participants=[],
            error=RuntimeError("listing failed"),
        ),
    ]
    report = build_report(reports)

    assert report.conferences == 3
    assert report.participants == 5
    assert report.participants_with_metrics == 4
    assert report.by_status == {"completed": 2, "in_progress": 1}
    assert report.by_end_reason == {"(none)": 2, "last_participant_left": 1}
    assert report.by_mixer_region == {"(none)": 2, "us1": 1}
    assert report.by_tag == {"low_mos": 2}
    assert report.incomplete_conferences == ("CF3",)
    poor = report.poor_participants
    assert [p.participant_sid for p in poor] == ["CP5", "CP1", "CP4"]
    assert poor[1].mos == 3.0
    assert poor[1].packet_loss_percentage == 0.5
    assert poor[1].jitter_avg == 40.0
    assert poor[1].problems == ("low_mos", "high_jitter")
    assert (poor[1].conference_sid, poor[1].friendly_name, poor[1].label) == ("CF1", "CF1", "a")
    assert poor[2].problems == ("high_packet_loss",)
    regions = {row.region: row for row in report.mos_by_region}
    assert set(regions) == {"us1", "ie1", "de1", "unknown"}
    assert regions["us1"].participants == 1
    assert regions["us1"].p50 == 3.0
    assert regions["unknown"].p10 == 2.0

    strict = build_report(reports, Thresholds(mos_below=1.0, packet_loss_above=5, jitter_above=50))
    assert strict.poor_participants == ()
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["poor_participants"][0]["problems"] == ["low_mos"]
    assert as_json["thresholds"] == {
        "mos_below": 3.5,
        "packet_loss_above": 1.0,
        "jitter_above": 30.0,
    }


def test_percentiles_interpolate_like_statistics_inclusive() -> None:
    """Percentiles match statistics.quantiles(method="inclusive")."""
    values = sorted([3.1, 4.4, 2.2, 4.0, 3.9, 4.3, 1.5])
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    assert percentile(values, 0.1) == pytest.approx(deciles[0])
    assert percentile(values, 0.5) == pytest.approx(statistics.median(values))
    assert percentile(values, 0.9) == pytest.approx(deciles[8])
    assert percentile([4.2], 0.9) == 4.2
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
