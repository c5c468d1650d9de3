"""The ready check's configuration and its framework-neutral part.

A :class:`SignatureCheck` knows the keys (auth token, SharedKeys) and the public URL; given
what a request carried (its path and query, headers, body) it says whether Twilio signed it.
The aiohttp and Starlette adapters only extract those pieces from their request objects.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import attrs
from multidict import MultiDict, MultiDictProxy
from yarl import URL

from ._signature import validate_signature

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["DEFAULT_MAX_BODY_BYTES", "SignatureCheck", "VerifiedRequest", "log"]

#: Twilio's callbacks and Event Streams batches are far below this.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

log = logging.getLogger("twilio_conf_insights.webhooks")

_FORM = "application/x-www-form-urlencoded"


class Rejected(Exception):
    """A request the check refuses: the status to answer and why (no secret in it)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@attrs.frozen
class VerifiedRequest:
    """A request whose signature was Twilio's: what was checked, ready to use."""

    #: The URL the signature matched (the public URL, as Twilio called it).
    url: str
    #: The form parameters of a form-encoded POST (empty for a JSON body or a GET).
    params: MultiDictProxy[str]
    #: The raw body.
    body: bytes


def _public_base(value: str | None) -> str | None:
    if value is None:
        return None
    url = URL(value, encoded=True)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("public_url must be an absolute http(s) URL")
    if url.query_string or url.fragment:
        raise ValueError("public_url takes no query or fragment (the request's query is added)")
    return value.rstrip("/")


def _frozen_keys(keys: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(keys or {}))


def _without_userinfo(base: str) -> str | None:
    scheme, _, rest = base.partition("://")
    userinfo, at, host = rest.partition("@")
    return f"{scheme}://{host}" if at and "/" not in userinfo else None


@attrs.frozen
class SignatureCheck:
    """Checks that requests come from Twilio: a ready check for aiohttp.web and FastAPI.

    * ``auth_token``: the account's auth token (the key of every signature not made with a
      SharedKey).
    * ``public_url``: where Twilio reaches this application, when that is not what the
      application sees (behind a proxy or a load balancer, Twilio calls
      ``https://hooks.example.com/…`` while the app sees ``http://10.0.0.7:8080/…``). The
      signed URL is this base followed by the path and query the application received, so
      give the prefix a proxy strips as part of it (``https://example.com/twilio``). It may
      carry the user info of a sink URL (``https://user:pass@…``); the URL is then accepted
      with and without it. Without ``public_url``, the request's own scheme, ``Host`` and
      path are used.
    * ``shared_keys``: SharedKey id -> secret, for requests signed under a Webhook Rule
      (``X-Twilio-Webhooks-Signature-Settings``); two entries while rotating.
    * ``max_body_bytes``: a larger body is refused (413) before it is read.

    Use :attr:`aiohttp` (a handler decorator), :attr:`aiohttp_middleware` (every route of
    an app), or :attr:`starlette` (a FastAPI dependency returning a :class:`VerifiedRequest`).
    A request that fails gets 403 and never reaches the handler. :attr:`rejected` counts
    them. The keys never appear in a repr, a log line or an answer.
    """

    auth_token: str | None = attrs.field(repr=False)
    public_url: str | None = attrs.field(default=None, converter=_public_base)
    shared_keys: Mapping[str, str] = attrs.field(factory=dict, repr=False, converter=_frozen_keys)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    _tally: list[int] = attrs.field(factory=lambda: [0], init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if self.auth_token is None and not self.shared_keys:
            raise ValueError("give the auth_token, or shared_keys, to check signatures with")

    @property
    def rejected(self) -> int:
        """Requests refused so far (bad or missing signature, oversized body)."""
        return self._tally[0]

    def urls(self, *, scheme: str, host: str, path_qs: str) -> list[str]:
        """The URLs Twilio may have signed for a request to ``path_qs``.

        ``path_qs`` is the path and query as received (not decoded).
        """
        if self.public_url is None:
            return [f"{scheme}://{host}{path_qs}"]
        urls = [self.public_url + path_qs]
        bare = _without_userinfo(self.public_url)
        if bare is not None:
            urls.append(bare + path_qs)
        return urls

    def check(
        self,
        *,
        urls: list[str],
        headers: Mapping[str, str],
        content_type: str,
        body: bytes,
    ) -> VerifiedRequest:
        """The verified request, or :class:`Rejected` (403) when Twilio did not sign it."""
        params: MultiDict[str] = MultiDict()
        is_json = any("bodySHA256=" in url.partition("?")[2] for url in urls)
        if not is_json and content_type == _FORM:
            try:
                params.extend(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            except UnicodeDecodeError:
                raise self._reject(400, "form body is not UTF-8") from None
        signature = headers.get("X-Twilio-Signature")
        settings = headers.get("X-Twilio-Webhooks-Signature-Settings")
        for url in urls:
            if validate_signature(
                url,
                signature,
                auth_token=self.auth_token,
                params=None if is_json else params,
                body=body if is_json else None,
                signature_settings=settings,
                shared_keys=self.shared_keys,
            ):
                return VerifiedRequest(url=url, params=MultiDictProxy(params), body=body)
        raise self._reject(403, "missing signature" if not signature else "invalid signature")

    def too_large(self, content_length: int | None) -> bool:
        """Whether a declared body length is over :attr:`max_body_bytes`."""
        return content_length is not None and content_length > self.max_body_bytes

    def _reject(self, status: int, reason: str) -> Rejected:
        self._tally[0] += 1
        log.debug("refused a webhook request: %s", reason)
        return Rejected(status, reason)

    # -- the framework adapters (each imported when first used) ----------------------------

    @cached_property
    def aiohttp(self) -> Callable[[Callable[[web.Request], Awaitable[web.StreamResponse]]], Any]:
        """An aiohttp.web handler decorator: the handler runs only for Twilio's requests."""
        from ._aiohttp import signature_required

        return signature_required(self)

    @cached_property
    def aiohttp_middleware(self) -> Any:
        """An aiohttp.web middleware checking every request of the application."""
        from ._aiohttp import signature_middleware

        return signature_middleware(self)

    @cached_property
    def starlette(self) -> Callable[..., Awaitable[VerifiedRequest]]:
        """A FastAPI dependency (``Depends(check.starlette)``), or a coroutine for Starlette.

        It returns the :class:`VerifiedRequest`, or raises ``HTTPException`` 403/411/413.
        """
        from ._starlette import verifier

        return verifier(self)
