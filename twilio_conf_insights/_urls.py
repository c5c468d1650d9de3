"""URL decisions, as pure functions over :class:`yarl.URL`.

Host selection for regions and edges, base-URL validation, safe path segments, the
same-origin rule for next-page links, and the service URLs the command line connects to
(Redis, PostgreSQL: which spellings are accepted, and how one is shown without its
password) all live here, so they are testable without a server.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import quote

from yarl import URL

from ._errors import ConfigurationError, ForeignOriginError, InvalidArgumentError
from ._redaction import REDACTED

__all__ = [
    "POSTGRES_SCHEMES",
    "REDIS_SCHEMES",
    "Origin",
    "base_url",
    "connection_url",
    "describe_origin",
    "display_url",
    "is_loopback_host",
    "is_postgres_url",
    "origin_of",
    "path_segment",
    "resolve_next_page",
    "twilio_host_url",
    "url_scheme",
]

#: How a PostgreSQL URL may be spelled (any case), and the scheme asyncpg is given for it.
#: ``postgresql+asyncpg`` is SQLAlchemy's spelling of the same URL.
POSTGRES_SCHEMES: Mapping[str, str] = {
    "postgresql": "postgresql",
    "postgres": "postgres",
    "postgresql+asyncpg": "postgresql",
}
#: The Redis URL schemes redis-py reads.
REDIS_SCHEMES: Mapping[str, str] = {"redis": "redis", "rediss": "rediss", "unix": "unix"}

#: Query parameters of a service URL shown in messages with their values. Any other value
#: may be a secret (``password=``, ``sslpassword=``, spellings yet unknown) and is hidden.
_SHOWN_PARAMETERS = frozenset(
    {
        "application_name",
        "client_name",
        "connect_timeout",
        "db",
        "health_check_interval",
        "protocol",
        "socket_connect_timeout",
        "socket_timeout",
        "ssl",
        "ssl_cert_reqs",
        "sslmode",
        "target_session_attrs",
    }
)
#: Parameters shown by name (their values hidden). Any other name is hidden too: after a raw
#: ``&`` in a password, the rest of the password reads as a parameter's name.
_SECRET_PARAMETERS = frozenset({"password", "sslpassword", "pass", "passwd", "pwd", "auth"})
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9_.-]{0,64}")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")

#: ``(scheme, host, port)``: two URLs with equal origins may share credentials.
Origin = tuple[str, str, int | None]


def origin_of(url: URL) -> Origin:
    """The origin of an absolute URL, with the default port made explicit."""
    return (url.scheme.lower(), (url.host or "").lower(), url.port)


def describe_origin(url: URL) -> str:
    """``scheme://host:port`` of a URL, the port always written, for error messages."""
    host = url.host or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{url.scheme}://{host}:{url.port}" if url.port is not None else f"{url.scheme}://{host}"


def is_loopback_host(host: str | None) -> bool:
    """True only for a host that cannot leave the machine: ``localhost``, 127.0.0.0/8, ``::1``.

    ``localhost.`` (a fully qualified name), ``*.localhost`` and numeric shorthands such as
    ``127.1`` are not: resolvers may send them to the network's DNS (RFC 6761 asks them
    not to, and many do anyway), which could answer with any address.
    """
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return address in _LOOPBACK_V4
    return address == _LOOPBACK_V6


_LOOPBACK_V4 = ipaddress.IPv4Network("127.0.0.0/8")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")


def twilio_host_url(product: str, *, region: str | None, edge: str | None) -> URL:
    """The base URL of a Twilio product for a region and edge.

    Twilio's rule (as in twilio-python): ``{product}.{edge}.{region}.twilio.com``; an edge
    without a region means region ``us1``; neither means ``{product}.twilio.com``.
    """
    for name, value in (("region", region), ("edge", edge)):
        if value is not None and (
            not value or not value.replace("-", "").isalnum() or not value.isascii()
        ):
            raise ConfigurationError(
                f"{name} must be a plain host label like 'us1' or 'sydney', got {value!r}"
            )
    if edge and not region:
        region = "us1"
    labels = [product, edge, region, "twilio", "com"]
    return URL.build(scheme="https", host=".".join(label for label in labels if label))


def base_url(value: str | URL, *, name: str) -> URL:
    """Validate a user-given base URL: absolute, https (http only to loopback), no query."""
    try:
        url = URL(value)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{name} is not a URL: {value!r}") from exc
    if not url.is_absolute() or not url.host:
        raise ConfigurationError(f"{name} must be an absolute URL, got {str(url)!r}")
    if url.scheme == "http":
        if not is_loopback_host(url.host):
            raise ConfigurationError(
                f"{name} may use http:// only for a loopback host (127.0.0.1, ::1, localhost); "
                f"use https:// for {url.host!r}"
            )
    elif url.scheme != "https":
        raise ConfigurationError(f"{name} must be an http(s) URL, got scheme {url.scheme!r}")
    if url.query_string or url.fragment or url.user or url.password:
        raise ConfigurationError(f"{name} must not carry a query, fragment or credentials")
    return url.with_path(url.path.rstrip("/"))


def path_segment(value: str, *, name: str) -> str:
    """Percent-encode ``value`` as exactly one path segment.

    Every reserved character is encoded (``/``, ``?``, ``#``, ``%``, spaces, unicode), and so
    are dots, so that ``.`` or ``..`` cannot be normalised into a different path. The result
    is for ``URL.joinpath(..., encoded=True)``.
    """
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{name} must be a non-empty string, got {value!r}")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise InvalidArgumentError(f"{name} must not contain control characters, got {value!r}")
    return quote(value, safe="").replace(".", "%2E")


def resolve_next_page(link: str, *, request_url: URL) -> URL:
    """Turn a page's next link into a URL, refusing any other origin than the request's.

    Insights sends an absolute ``next_page_url``; the 2010 API a ``next_page_uri`` relative to
    its host. Both are resolved against the request URL, then must keep its origin: a link
    elsewhere (``https://evil.example/``, ``//evil.example/``) raises
    :class:`ForeignOriginError` and nothing is sent.
    """
    try:
        target = request_url.join(URL(link))
    except (TypeError, ValueError) as exc:
        raise ForeignOriginError(f"next-page link is not a URL: {link!r}") from exc
    if target.user is not None or target.password is not None:
        # Same host, but aiohttp would send these instead of our Authorization header.
        raise ForeignOriginError("refusing to follow a next-page link that carries credentials")
    if origin_of(target) != origin_of(request_url):
        raise ForeignOriginError(
            f"refusing to follow a next-page link to {describe_origin(target)}: "
            f"requests only go to {describe_origin(request_url)}"
        )
    return target


# -- service URLs (Redis, PostgreSQL) ------------------------------------------------------


def url_scheme(text: str) -> str | None:
    """The scheme of ``text`` in lower case when it is written ``scheme://…``, else ``None``."""
    match = _SCHEME.match(text)
    return match.group(1).lower() if match else None


def is_postgres_url(text: str) -> bool:
    """Whether ``--db`` names a PostgreSQL database rather than a file (any spelling)."""
    return url_scheme(text) in POSTGRES_SCHEMES


def _parsed(text: str) -> URL | None:
    """``text`` as a URL when it reads the same to yarl as to a connector, else ``None``.

    A raw ``#``, ``?``, ``/`` or ``@`` in a user name or password ends the authority early:
    the rest of the password would then be read as a port, a path, a query or a fragment.
    Such URLs are never parsed further (nor shown), since every part may hold a secret.
    """
    if "#" in text:
        return None
    scheme_end = text.find("://")
    rest = text[scheme_end + 3 :] if scheme_end >= 0 else text
    after_authority = re.split(r"[/?]", rest, maxsplit=1)[1:]
    if after_authority and "@" in after_authority[0]:
        return None
    try:
        url = URL(text)  # an invalid port raises here
    except (TypeError, ValueError):
        return None
    return url


def display_url(text: str) -> str:
    """A service URL fit for a message: never its password, in whatever spelling it came.

    The password of the user part is dropped; a query value is shown only for parameters
    known to hold no secret (``sslmode``, ``db``…), any other (``password=``,
    ``sslpassword=``…) reads ``<redacted>``; a URL that does not parse the way its
    connector would read it (a raw ``#`` in a password) is shown as its scheme alone.
    """
    scheme = url_scheme(text)
    url = _parsed(text) if scheme is not None else None
    try:
        if url is not None:
            if url.password is not None:
                url = url.with_password(None)
            pairs = [_shown_parameter(name, value) for name, value in url.query.items()]
            return str(url.with_query(None)) + ("?" + "&".join(pairs) if pairs else "")
    except ValueError:  # yarl refuses to rebuild it: show none of it
        pass
    return f"{scheme}://{REDACTED}" if scheme is not None else REDACTED


def _shown_parameter(name: str, value: str) -> str:
    if name.lower() in _SHOWN_PARAMETERS:
        return f"{name}={value if _PLAIN_VALUE.fullmatch(value) else REDACTED}"
    if name.lower() in _SECRET_PARAMETERS:
        return f"{name}={REDACTED}"
    return REDACTED


def connection_url(text: str, schemes: Mapping[str, str], *, what: str) -> str:
    """Check a ``what`` URL (one of ``schemes``) before connecting; return it for the driver.

    The scheme is matched in any case and replaced by the driver's spelling; the rest is
    passed on untouched (percent-encoding kept). A URL whose user name or password holds a
    raw reserved character is refused with how to write it, without showing it.
    """
    scheme = url_scheme(text)
    if scheme is None or scheme not in schemes:
        spelled = " or ".join(f"{name}://…" for name in dict.fromkeys(schemes.values()))
        raise InvalidArgumentError(f"not a {what} URL: {display_url(text)} (write {spelled})")
    if _parsed(text) is None:
        raise InvalidArgumentError(
            f"the {what} URL {display_url(text)} does not parse: percent-encode reserved "
            "characters in its user name and password (# as %23, ? as %3F, / as %2F, "
            "@ as %40, % as %25)"
        )
    return schemes[scheme] + text[len(scheme) :]
