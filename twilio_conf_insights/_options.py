"""Per-call options: what a call may do differently from its client's defaults.

A client holds one :class:`RequestOptions` built from its constructor;
``client.with_options(...)`` makes a view of the same client whose calls carry other
options. The options travel with each request through the pipeline, so every step reads
them from the request, never from the client: the connection, the limiter and the hooks
stay shared.
"""

from __future__ import annotations

import types
from collections.abc import Mapping

import attrs

from ._errors import ConfigurationError
from ._retry import RetryPolicy
from ._validation import positive_int, positive_number

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_TIMEOUT", "RESERVED_HEADERS", "RequestOptions"]

#: Seconds one attempt may take by default, from sending to the end of the body.
DEFAULT_TIMEOUT = 30.0
#: Largest response body accepted (after decompression): a page of 1,000 participant
#: summaries is about 2 MB, so 32 MiB leaves room without letting a broken peer exhaust memory.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024

#: Headers the client sets itself; extra headers may not replace them. (Lower case.)
RESERVED_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "host", "user-agent", "accept"}
)

_NO_HEADERS: Mapping[str, str] = types.MappingProxyType({})


def _headers(value: Mapping[str, str]) -> Mapping[str, str]:
    """Extra headers, checked and frozen."""
    if not isinstance(value, Mapping):
        raise ConfigurationError("headers must be a mapping of header names to values")
    checked: dict[str, str] = {}
    for name, text in value.items():
        if not isinstance(name, str) or not isinstance(text, str):
            raise ConfigurationError("header names and values must be strings")
        if not name or any(not (33 <= ord(ch) <= 126) or ch == ":" for ch in name):
            raise ConfigurationError(f"not a header name: {name!r}")
        if any(ch in text for ch in "\r\n\0"):
            raise ConfigurationError(f"the value of header {name} must not contain line breaks")
        if name.lower() in RESERVED_HEADERS:
            raise ConfigurationError(f"header {name} is set by the client and cannot be replaced")
        checked[name] = text
    return types.MappingProxyType(checked) if checked else _NO_HEADERS


def _timeout(_: object, __: object, value: float) -> None:
    positive_number(value, "timeout (seconds)")


def _body_limit(_: object, __: object, value: int) -> None:
    positive_int(value, "max_body_bytes")


def _retry(_: object, __: object, value: RetryPolicy) -> None:
    if not isinstance(value, RetryPolicy):
        raise ConfigurationError("retry must be a RetryPolicy")


@attrs.frozen(kw_only=True)
class RequestOptions:
    """How one call is made: its deadline, its retries, its body limit and extra headers."""

    #: Seconds one attempt may take, from sending to the end of the body.
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=_timeout)
    #: Which failures are retried, how long to wait, when to give up.
    retry: RetryPolicy = attrs.field(factory=RetryPolicy, validator=_retry)
    #: Largest response body accepted (after decompression).
    max_body_bytes: int = attrs.field(default=DEFAULT_MAX_BODY_BYTES, validator=_body_limit)
    #: Headers sent besides the client's own (which they cannot replace).
    headers: Mapping[str, str] = attrs.field(default=_NO_HEADERS, converter=_headers)

    def merged(
        self,
        *,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        max_body_bytes: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> RequestOptions:
        """These options with the given ones replaced (``None`` keeps the current value).

        ``headers`` are added to the current extra headers (a name given again replaces).
        """
        return RequestOptions(
            timeout=self.timeout if timeout is None else timeout,
            retry=self.retry if retry is None else retry,
            max_body_bytes=self.max_body_bytes if max_body_bytes is None else max_body_bytes,
            headers=self.headers if headers is None else {**self.headers, **headers},
        )
