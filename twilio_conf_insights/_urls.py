"""URL decisions, as pure functions over :class:`yarl.URL`.

Host selection for regions and edges, base-URL validation, safe path segments and the
same-origin rule for next-page links all live here, so they are testable without a server.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import quote

from yarl import URL

from ._errors import ConfigurationError, ForeignOriginError, InvalidArgumentError

__all__ = [
    "Origin",
    "base_url",
    "describe_origin",
    "is_loopback_host",
    "origin_of",
    "path_segment",
    "resolve_next_page",
    "twilio_host_url",
]

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
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ``::1``)."""
    if not host:
        return False
    if host.lower() in {"localhost", "localhost."}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
