"""Which forward proxy a request goes through, decided once per origin.

``InsightsClient(proxy=…)`` sends every request through one proxy. Without it, and unless
``trust_env=False``, the environment decides as curl, requests, httpx and aiohttp read it:
``HTTPS_PROXY`` for ``https://`` hosts, ``HTTP_PROXY`` for ``http://`` ones (lower-case
spellings win), and ``NO_PROXY`` (a comma-separated list of hosts and domain suffixes, or
``*``) lists hosts reached directly.

A client talks to two origins at most, so the decision is made once for each when the
client is built, never per request (aiohttp's own ``trust_env`` would read the environment
and ``~/.netrc`` in a thread on every request).

Credentials in a proxy URL (``http://user:password@proxy:3128``) become a
``Proxy-Authorization`` header, built here like the ``Authorization`` header, and the
password is a secret like the auth token: registered with :mod:`._redaction`, so it
appears in no repr, message, log line or CLI output.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Iterable, Mapping

import aiohttp
import attrs
from yarl import URL

from . import _redaction
from ._errors import ConfigurationError
from ._redaction import REDACTED
from ._urls import Origin, origin_of

__all__ = ["ProxyRoute", "Proxies", "describe_proxy"]


@attrs.frozen(repr=False, eq=False)
class ProxyRoute:
    """One proxy: its URL without credentials, and the header that authenticates to it."""

    url: URL
    #: ``{"Proxy-Authorization": "Basic …"}``, or ``None`` for a proxy without credentials.
    headers: Mapping[str, str] | None
    #: The URL as given, for messages: the password replaced.
    shown: str
    _password: str = attrs.field(default="", alias="password")

    def request_headers(self, url: URL, headers: Mapping[str, str]) -> Mapping[str, str]:
        """The headers of a request to ``url`` through this proxy.

        An ``https://`` request goes through a tunnel, and the proxy's credentials with the
        ``CONNECT`` (aiohttp sends ``headers`` there); a plain ``http://`` request is sent to
        the proxy itself, so they go with the request.
        """
        if self.headers is None or url.scheme != "http":
            return headers
        return {**headers, **self.headers}

    def secret_forms(self) -> tuple[str, ...]:
        """The password and the ``Proxy-Authorization`` value and its base64 part."""
        if self.headers is None:
            return ()
        header = self.headers["Proxy-Authorization"]
        return (header, header.partition(" ")[2], self._password)

    def __repr__(self) -> str:
        return f"<proxy {self.shown}>"


def describe_proxy(url: URL) -> str:
    """A proxy URL fit for a message: its password replaced."""
    if url.password is None:
        return str(url)
    port = f":{url.explicit_port}" if url.explicit_port is not None else ""
    return f"{url.scheme}://{url.user or ''}:{REDACTED}@{url.host}{port}"


def _route(value: str | URL, *, source: str) -> ProxyRoute:
    text = str(value).strip()
    if "://" not in text:
        text = f"http://{text}"  # "proxy.corp:3128", as curl takes it
    try:
        url = URL(text)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{source} is not a URL") from None
    shown = describe_proxy(url) if url.host else "?"
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"{source} must be an http:// or https:// proxy URL, got {shown}")
    if url.path not in ("", "/") or url.query_string or url.fragment:
        raise ConfigurationError(f"{source} must be a proxy's address only, got {shown}")
    if url.user is None and url.password is None:
        return ProxyRoute(url.with_path(""), None, shown)
    password = url.password or ""
    header = aiohttp.encode_basic_auth(url.user or "", password)
    return ProxyRoute(
        url.with_user(None).with_path(""),
        {"Proxy-Authorization": header},
        shown,
        password=password,
    )


def _environment_value(environ: Mapping[str, str], name: str) -> str | None:
    """``name_proxy``, else ``NAME_PROXY``: the lower-case spelling wins, as in urllib."""
    for spelled in (f"{name}_proxy", f"{name.upper()}_PROXY"):
        value = environ.get(spelled, "").strip()
        if value:
            return value
    return None


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` lists ``host`` (urllib's reading, as aiohttp and requests use)."""
    bypass: Callable[[str, dict[str, str]], bool] = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    return bypass(host, {"no": no_proxy})


class Proxies:
    """The proxy of each origin a client talks to; see the module documentation."""

    __slots__ = ("__weakref__", "_routes", "configured")

    def __init__(
        self,
        origins: Iterable[Origin],
        *,
        proxy: str | URL | None,
        trust_env: bool,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        routes: dict[Origin, ProxyRoute] = {}
        if proxy is not None:
            if not isinstance(proxy, str | URL):
                raise ConfigurationError("proxy must be a URL string")
            route = _route(proxy, source="proxy")
            routes = dict.fromkeys(origins, route)
        elif trust_env:
            bypass = _environment_value(env, "no")
            for origin in origins:
                scheme, host, _ = origin
                value = _environment_value(env, scheme)
                if value is None:
                    continue
                if bypass and _bypassed(host, bypass):
                    continue
                routes[origin] = _route(value, source=f"{scheme.upper()}_PROXY")
        self._routes = routes
        #: Whether any origin goes through a proxy (the common case, none, skips the lookup).
        self.configured = bool(routes)
        _redaction.register(self)

    def route(self, origin: Origin) -> ProxyRoute | None:
        """The proxy for ``origin``, or ``None`` to connect directly."""
        return self._routes.get(origin)

    def route_for(self, url: URL) -> ProxyRoute | None:
        """The proxy for ``url``'s origin, or ``None``."""
        return self._routes.get(origin_of(url)) if self.configured else None

    def secret_forms(self) -> tuple[str, ...]:
        """Every proxy password and ``Proxy-Authorization`` form, to scrub from messages."""
        return tuple(form for route in self._routes.values() for form in route.secret_forms())

    def describe(self) -> str | None:
        """The proxies in use, passwords replaced (``None`` when there are none)."""
        shown = sorted({route.shown for route in self._routes.values()})
        return ", ".join(shown) if shown else None
