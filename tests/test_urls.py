"""Pure URL logic: hosts, base URLs, path segments, the same-origin rule."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from twilio_conf_insights import ConfigurationError, ForeignOriginError, InvalidArgumentError
from twilio_conf_insights._urls import (
    POSTGRES_SCHEMES,
    REDIS_SCHEMES,
    base_url,
    connection_url,
    display_url,
    is_loopback_host,
    is_postgres_url,
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


@pytest.mark.parametrize("host", ["localhost", "LocalHost", "127.0.0.1", "127.255.255.254", "::1"])
def test_loopback_names_that_never_leave_the_machine(host: str) -> None:
    """localhost itself, 127.0.0.0/8 and ::1 are loopback."""
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "localhost.",  # fully qualified: resolvers may ask the network's DNS
        "LOCALHOST.",
        "api.localhost",  # RFC 6761 says loopback, but many resolvers send it to DNS
        "localhost.localdomain",
        "127.1",  # shorthands getaddrinfo reads as 127.0.0.1, ipaddress does not
        "2130706433",
        "0x7f.0.0.1",
        "127.0.0.1.",
        "::ffff:127.0.0.1",
        "::",
        "0.0.0.0",
    ],
)
def test_names_that_may_be_resolved_elsewhere_are_not_loopback(host: str) -> None:
    """A name that a resolver may send to the network's DNS is not loopback."""
    assert not is_loopback_host(host)


@pytest.mark.parametrize(
    "url", ["http://localhost.:8080", "http://localhost.", "http://x.localhost:1", "http://127.1:9"]
)
def test_plain_http_to_a_name_that_may_leave_the_machine_is_refused(url: str) -> None:
    """http://localhost. (trailing dot) and *.localhost are refused as base URLs."""
    with pytest.raises(ConfigurationError, match="loopback"):
        base_url(url, name="insights_base_url")


# -- service URLs: how they are shown and which spellings connect --------------------------

#: What every piece of a generated password starts with: found in a message, it leaked.
_MARK = "Zq9"

_pieces = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="%"),
    max_size=6,
)
#: Passwords made of marked pieces joined by characters with a meaning in URLs.
_passwords = st.lists(
    st.tuples(st.sampled_from(["", "#", "?", "/", "@", ":", "&", "=", ";", " ", "%"]), _pieces),
    min_size=1,
    max_size=4,
).map(lambda parts: "".join(sep + _MARK + piece for sep, piece in parts))


def _spellings(scheme: str, password: str) -> list[str]:
    """Every way a connector could be given ``password`` in a URL of ``scheme``."""
    encoded = quote(password, safe="")
    host = "/tmp/redis.sock" if scheme == "unix" else "db.example:5432"
    at = "/" if scheme == "unix" else ""
    return [
        f"{scheme}://app:{password}@{at}{host}/insights",
        f"{scheme}://app:{encoded}@{at}{host}/insights",
        f"{scheme}://:{encoded}@{at}{host}/0",
        f"{scheme}://app@{at}{host}/insights?password={password}",
        f"{scheme}://app@{at}{host}/insights?password={encoded}",
        f"{scheme}://{at}{host}/insights?sslmode=require&PassWord={encoded}&db=1",
        f"{scheme}://{at}{host}/insights?pass%77ord={encoded}",
        f"{scheme}://{at}{host}/insights?sslpassword={encoded}",
    ]


@given(
    scheme=st.sampled_from(
        ["postgresql", "POSTGRESQL", "postgres", "postgresql+asyncpg", "redis", "rediss", "unix"]
    ),
    password=_passwords,
)
def test_no_password_spelling_survives_display(scheme: str, password: str) -> None:
    """display_url shows no piece of a password, in the user part or the query, raw or encoded."""
    for url in _spellings(scheme, password):
        shown = display_url(url)
        assert _MARK.lower() not in shown.lower(), (url, shown)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://sync:pw-secret@db:5432/insights", "postgresql://sync@db:5432/insights"),
        ("POSTGRESQL://sync:pw-secret@db/insights", "postgresql://sync@db/insights"),
        (
            "postgresql://db/insights?sslmode=require&password=pw-secret",
            "postgresql://db/insights?sslmode=require&password=<redacted>",
        ),
        ("redis://:pw%23secret@127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw#secret@127.0.0.1:6379/0", "redis://<redacted>"),
        ("redis://127.0.0.1:6379/0?db=2&foo=pw-secret", "redis://127.0.0.1:6379/0?db=2&<redacted>"),
        ("not a url", "<redacted>"),
    ],
)
def test_display_keeps_what_helps_and_hides_the_rest(url: str, shown: str) -> None:
    """Scheme, user, host, port, database and harmless parameters stay; secrets go."""
    assert display_url(url) == shown


@pytest.mark.parametrize(
    ("url", "given"),
    [
        ("postgresql://u:p@h/db", "postgresql://u:p@h/db"),
        ("POSTGRESQL://u:p@h/db", "postgresql://u:p@h/db"),
        ("Postgres://u:p@h/db", "postgres://u:p@h/db"),
        ("postgresql+asyncpg://u:p%23w@h/db", "postgresql://u:p%23w@h/db"),
    ],
)
def test_postgres_spellings_are_recognised(url: str, given: str) -> None:
    """Any case and SQLAlchemy's +asyncpg name a PostgreSQL URL; the driver gets its spelling."""
    assert is_postgres_url(url)
    assert connection_url(url, POSTGRES_SCHEMES, what="PostgreSQL") == given


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://u:pw-secret@h/db",
        "mysql://u:pw-secret@h/db",
        "postgresql://u:pw#secret@h/db",
        "postgresql://u:pw/secret@h/db",
        "postgresql://u:pw?secret@h/db",
    ],
)
def test_other_postgres_spellings_are_refused_without_the_password(url: str) -> None:
    """Another driver, another database or a raw reserved character: refused, secret unshown."""
    with pytest.raises(InvalidArgumentError) as refused:
        connection_url(url, POSTGRES_SCHEMES, what="PostgreSQL")
    assert "secret" not in str(refused.value)


def test_a_raw_hash_in_a_redis_password_says_how_to_write_it() -> None:
    """redis://:pa#ss@… is refused with how to encode it, and no part of the password."""
    with pytest.raises(InvalidArgumentError, match="%23") as refused:
        connection_url("redis://:Zq9pa#Zq9ss@127.0.0.1:6379/0", REDIS_SCHEMES, what="Redis")
    assert _MARK not in str(refused.value)
    encoded = connection_url("redis://:pa%23ss@127.0.0.1:6379/0", REDIS_SCHEMES, what="Redis")
    assert encoded == "redis://:pa%23ss@127.0.0.1:6379/0"


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
