"""Pure URL logic: hosts, base URLs, path segments, the same-origin rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from twilio_conf_insights import ConfigurationError, ForeignOriginError, InvalidArgumentError
from twilio_conf_insights._urls import (
    base_url,
    is_loopback_host,
    path_segment,
    resolve_next_page,
    twilio_host_url,
)


@pytest.mark.parametrize(
    ("region", "edge", "host"),
    [
        (None, None, "insights.twilio.com"),
        ("ie1", None, "insights.ie1.twilio.com"),
        ("au1", "sydney", "insights.sydney.au1.twilio.com"),
        (None, "dublin", "insights.dublin.us1.twilio.com"),
    ],
)
def test_region_and_edge_hosts(region: str | None, edge: str | None, host: str) -> None:
    """Region and edge build {product}.{edge}.{region}.twilio.com, with Twilio's defaults."""
    assert twilio_host_url("insights", region=region, edge=edge) == URL(f"https://{host}")


@pytest.mark.parametrize("bad", ["ie1.evil.com/", "", "a b", "x/y"])
def test_region_must_be_a_host_label(bad: str) -> None:
    """A region or edge that is not a single host label is refused."""
    with pytest.raises(ConfigurationError):
        twilio_host_url("api", region=bad, edge=None)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:9",
        "https://proxy.example.com/base/",
    ],
)
def test_base_url_accepts(url: str) -> None:
    """https base URLs, and plain http on loopback, are accepted."""
    assert base_url(url, name="x").is_absolute()


@pytest.mark.parametrize(
    "url",
    [
        "http://insights.twilio.com",
        "http://10.0.0.1",
        "ftp://127.0.0.1",
        "/relative",
        "https://u:p@host",
        "https://h/?q=1",
    ],
)
def test_base_url_refuses(url: str) -> None:
    """Non-loopback http, credentials, paths, queries and other schemes are refused."""
    with pytest.raises(ConfigurationError):
        base_url(url, name="insights_base_url")


def test_loopback_detection() -> None:
    """Only real loopback addresses count as loopback, not look-alike names."""
    assert is_loopback_host("127.5.6.7")
    assert is_loopback_host("::1")
    assert not is_loopback_host("128.0.0.1")
    assert not is_loopback_host("localhost.evil.com")
    assert not is_loopback_host(None)


@pytest.mark.parametrize(
    "label", ["a/b", "../..", "..", ".", "x?y=1", "x#frag", "100%", "agent 7", "Zoë ☎", "a+b&c=d"]
)
def test_path_segment_stays_one_segment(label: str) -> None:
    """Any label, once encoded, stays one path segment with no query or fragment."""
    base = URL("https://api.twilio.com/2010-04-01/Participants")
    url = base.joinpath(f"{path_segment(label, name='label')}.json", encoded=True)
    assert url.parent == base
    assert url.query_string == ""
    assert url.fragment == ""
    assert url.name == f"{label}.json"


@given(st.text(min_size=1).filter(lambda s: all(ord(c) >= 0x20 and ord(c) != 0x7F for c in s)))
def test_path_segment_round_trips_any_label(label: str) -> None:
    """Any label encodes to a segment that decodes back to itself."""
    base = URL("https://api.twilio.com/p")
    url = base.joinpath(path_segment(label, name="label"), encoded=True)
    assert url.raw_parts[:-1] == base.raw_parts
    assert url.name == label


@pytest.mark.parametrize("bad", ["", "line\nbreak", "nul\x00"])
def test_path_segment_refuses(bad: str) -> None:
    """Empty labels and labels with control characters are refused."""
    with pytest.raises(InvalidArgumentError):
        path_segment(bad, name="label")


def test_next_page_same_origin_absolute_and_relative() -> None:
    """Absolute and relative next-page links on the request's origin are followed."""
    request = URL("https://insights.twilio.com/v1/Conferences?PageSize=2")
    nxt = resolve_next_page(
        "https://insights.twilio.com/v1/Conferences?PageSize=2&Page=1&PageToken=PA1",
        request_url=request,
    )
    assert nxt.query["PageToken"] == "PA1"
    api = URL("https://api.twilio.com/2010-04-01/Accounts/AC/Conferences/CF/Participants.json")
    relative = resolve_next_page(
        "/2010-04-01/Accounts/AC/Conferences/CF/Participants.json?Page=1", request_url=api
    )
    assert relative.host == "api.twilio.com" and relative.query["Page"] == "1"


@pytest.mark.parametrize(
    "link",
    [
        "https://evil.example/v1/Conferences",
        "//evil.example/v1/Conferences",
        "http://insights.twilio.com/v1/Conferences",  # scheme downgrade
        "https://insights.twilio.com:8443/v1/Conferences",
        "https://user:pass@insights.twilio.com/v1/Conferences",
        "https://user@insights.twilio.com/v1/Conferences",
    ],
)
def test_next_page_foreign_origin_refused(link: str) -> None:
    """Next-page links to another origin raise ForeignOriginError."""
    with pytest.raises(ForeignOriginError):
        resolve_next_page(link, request_url=URL("https://insights.twilio.com/v1/Conferences"))
