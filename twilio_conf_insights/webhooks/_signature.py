"""Twilio's request signatures as pure functions: the signed string, the HMAC, the check.

Twilio signs every webhook with ``X-Twilio-Signature``: the base64 HMAC of the URL it called,
followed (for a form-encoded POST) by every parameter name and value, sorted by name. A
name sent several times contributes each distinct value once, in sorted order, which is
what Twilio's own validators compute. A JSON body is not part of the signed string: the URL
carries a ``bodySHA256`` query parameter (the hex SHA-256 of the body) instead, and the body
is checked against it.

The key is the account's auth token and the hash SHA-1, unless a Webhook Rule applies a
Setting that signs with a SharedKey: then the request carries
``X-Twilio-Webhooks-Signature-Settings: key=<SharedKey id>,algorithm=<HMAC_SHA1|HMAC_SHA256>``
and the signed string is the same, hashed with that key's secret and algorithm.

Twilio's back end is not consistent about the port: a URL with an explicit port may be
signed without it, and one without a port may be signed with the scheme's default. Like
Twilio's validators, :func:`validate_signature` accepts the URL as given, without its port,
and with the default port when it has none. Every comparison is constant-time.

The URL is used exactly as given, byte for byte (no re-encoding, no normalisation): the
signature is over the string Twilio had, and any rewriting would break it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Union

import attrs
from multidict import MultiMapping
from yarl import URL

__all__ = [
    "HMAC_SHA1",
    "HMAC_SHA256",
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "FormParams",
    "SignatureSettings",
    "body_sha256",
    "compute_signature",
    "url_variants",
    "validate_signature",
    "with_body_sha256",
]

#: The header carrying the signature.
SIGNATURE_HEADER = "X-Twilio-Signature"
#: The header a Webhook Setting with a SharedKey adds: ``key=<id>,algorithm=<name>``.
SIGNATURE_SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"
#: The default algorithm (the auth token's).
HMAC_SHA1 = "HMAC_SHA1"
#: The other algorithm a SharedKey Setting may use.
HMAC_SHA256 = "HMAC_SHA256"

_HASHES = {HMAC_SHA1: hashlib.sha1, HMAC_SHA256: hashlib.sha256}
_BODY_HASH = "bodySHA256"

#: POST parameters: a mapping (values a string or several), a multidict, or ``(name, value)``
#: pairs (a name may repeat).
FormParams = Union[  # noqa: UP007 (a runtime alias: `|` on these generics fails on 3.11)
    Mapping[str, str | Sequence[str]], MultiMapping[str], Iterable[tuple[str, str]]
]


@attrs.frozen
class SignatureSettings:
    """What ``X-Twilio-Webhooks-Signature-Settings`` says: which SharedKey, which algorithm."""

    #: The SharedKey's id (``key=…``), or ``None`` when the header names none.
    key: str | None
    #: ``HMAC_SHA1`` (when the header names none) or ``HMAC_SHA256``, upper-case as Twilio
    #: writes it; any other value is kept and fails validation.
    algorithm: str = HMAC_SHA1

    @classmethod
    def parse(cls, header: str | None) -> SignatureSettings | None:
        """The settings of a header value; ``None`` when the header is absent or blank."""
        if header is None or not header.strip():
            return None
        fields: dict[str, str] = {}
        for part in header.split(","):
            name, separator, value = part.partition("=")
            if separator and value.strip():
                fields.setdefault(name.strip().lower(), value.strip())
        return cls(key=fields.get("key"), algorithm=fields.get("algorithm", HMAC_SHA1).upper())


def _pairs(params: FormParams | None) -> Iterable[tuple[str, str]]:
    if params is None:
        return ()
    if isinstance(params, MultiMapping):
        return params.items()
    if isinstance(params, Mapping):
        return (
            (name, value)
            for name, values in params.items()
            for value in ((values,) if isinstance(values, str) else values)
        )
    return params


def _signed_string(url: str, params: FormParams | None) -> str:
    values: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        values.setdefault(name, set()).add(value)
    # Each name once, in order; each of its distinct values once, in order.
    return url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))


def compute_signature(
    url: str, *, key: str, params: FormParams | None = None, algorithm: str = HMAC_SHA1
) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for ``url`` and ``params`` (base64).

    ``key`` is the auth token, or a SharedKey's secret; ``algorithm`` ``HMAC_SHA1`` or
    ``HMAC_SHA256``. Useful for testing your own webhook endpoints.
    """
    digest = _HASHES.get(algorithm.upper())
    if digest is None:
        raise ValueError(f"unsupported signature algorithm {algorithm!r}")
    mac = hmac.new(key.encode("utf-8"), _signed_string(url, params).encode("utf-8"), digest)
    return base64.b64encode(mac.digest()).decode("ascii")


def body_sha256(body: bytes | str) -> str:
    """The hex SHA-256 of a request body, as in the ``bodySHA256`` query parameter."""
    return hashlib.sha256(body.encode("utf-8") if isinstance(body, str) else body).hexdigest()


def with_body_sha256(url: str, body: bytes | str) -> str:
    """``url`` with the ``bodySHA256`` parameter Twilio adds for a JSON ``body``."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{_BODY_HASH}={body_sha256(body)}"


def _authority_end(rest: str) -> int:
    ends = [index for index in (rest.find(mark) for mark in "/?#") if index >= 0]
    return min(ends, default=len(rest))


def url_variants(url: str) -> tuple[str, ...]:
    """The spellings of ``url`` Twilio may have signed.

    As given, and without its port (when it has one) or with its scheme's default port
    (when it has none).
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return (url,)
    end = _authority_end(rest)
    authority, tail = rest[:end], rest[end:]
    userinfo, at, host_port = authority.rpartition("@")
    host, colon, port = host_port.rpartition(":")
    if not colon or "]" in port:  # no port (an IPv6 address's colons are inside brackets)
        default = 443 if scheme.lower() == "https" else 80
        return (url, f"{scheme}://{userinfo}{at}{host_port}:{default}{tail}")
    return (url, f"{scheme}://{userinfo}{at}{host}{tail}")


def _body_hash_in(url: str) -> str | None:
    try:
        return URL(url, encoded=True).query.get(_BODY_HASH)
    except (ValueError, TypeError):
        return None


def _equal(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


def _signing_key(
    auth_token: str | None,
    settings: SignatureSettings | None,
    shared_keys: Mapping[str, str] | None,
) -> list[tuple[str, str]]:
    """The (secret, algorithm) pairs a signature may have been made with."""
    if settings is None:
        return [] if auth_token is None else [(auth_token, HMAC_SHA1)]
    if settings.algorithm not in _HASHES or not shared_keys:
        return []
    if settings.key is None:  # the header names no key: any of ours may have signed
        return [(secret, settings.algorithm) for secret in shared_keys.values()]
    secret = shared_keys.get(settings.key)
    return [] if secret is None else [(secret, settings.algorithm)]


def validate_signature(
    url: str,
    signature: str | None,
    *,
    auth_token: str | None,
    params: FormParams | None = None,
    body: bytes | str | None = None,
    signature_settings: str | None = None,
    shared_keys: Mapping[str, str] | None = None,
) -> bool:
    """Whether ``signature`` (``X-Twilio-Signature``) is Twilio's for this request.

    ``url`` is the full URL Twilio called (scheme, host, path and query, as Twilio had it);
    ``params`` the POST parameters of a form-encoded callback; ``body`` the raw body of a
    JSON one, whose URL must carry ``bodySHA256`` (give one of ``params`` and ``body``).

    The key is ``auth_token`` (HMAC-SHA1), unless the request carried
    ``X-Twilio-Webhooks-Signature-Settings`` (pass its value as ``signature_settings``):
    then it is the secret ``shared_keys`` holds for the key the header names (a SharedKey
    id -> secret mapping, two entries while rotating), with the header's algorithm. A
    header naming a key or an algorithm we do not have fails validation.
    """
    if params and body is not None:
        raise ValueError("give the form params or the JSON body, not both")
    if not signature:
        return False
    keys = _signing_key(auth_token, SignatureSettings.parse(signature_settings), shared_keys)
    body_ok = True
    if body is not None:
        expected = _body_hash_in(url)
        body_ok = expected is not None and _equal(body_sha256(body), expected)
        params = None
    matches = [
        _equal(
            compute_signature(variant, key=secret, params=params, algorithm=algorithm), signature
        )
        for secret, algorithm in keys
        for variant in url_variants(url)
    ]
    # Every candidate is computed and compared: no early exit that timing could reveal.
    return body_ok and any(matches)
