"""Signature validation agrees with twilio-python's RequestValidator, and the pure parts."""

from __future__ import annotations

import string
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator, get_signature_algorithm

from twilio_conf_insights.webhooks import (
    HMAC_SHA1,
    HMAC_SHA256,
    SignatureSettings,
    body_sha256,
    compute_signature,
    url_variants,
    validate_signature,
    with_body_sha256,
)

TOKEN = "12345678901234567890123456789012"
SAFE = string.ascii_letters + string.digits + "-._~"

ports = st.sampled_from([None, "default", 8443])
words = st.text(alphabet=SAFE, min_size=1, max_size=8)
# Names from a small alphabet, so that names repeat; values anything, blank included.
pairs = st.lists(
    st.tuples(st.sampled_from(["To", "From", "Body", "a", "ab", "B"]), st.text(max_size=12)),
    max_size=8,
)


def url_of(
    scheme: str, host: str, port: object, path: list[str], query: list[tuple[str, str]]
) -> str:
    authority = host if port is None else f"{host}:{443 if scheme == 'https' else 80}"
    if isinstance(port, int):
        authority = f"{host}:{port}"
    url = f"{scheme}://{authority}/" + "/".join(path)
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A request as Twilio signed it and as the application sees it (port may differ)."""
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(words).lower() + ".example.com"
    path = draw(st.lists(words, max_size=3))
    query = draw(st.lists(st.tuples(words, words), max_size=2))
    json_body = draw(st.booleans())
    body = draw(st.text(max_size=40)) if json_body else None
    signed = url_of(scheme, host, draw(ports), path, query)
    seen = url_of(scheme, host, draw(ports), path, query)
    if body is not None:
        signed, seen = with_body_sha256(signed, body), with_body_sha256(seen, body)
    return {
        "signed": signed,
        "seen": seen,
        "params": None if json_body else MultiDict(draw(pairs)),
        "body": body,
        "shared_key": draw(st.booleans()),
        "algorithm": draw(st.sampled_from([HMAC_SHA1, HMAC_SHA256, "hmac_sha256"])),
    }


TAMPERING = [
    "none",
    "path",
    "query",
    "host",
    "param-value",
    "param-added",
    "param-removed",
    "body",
    "signature",
    "key",
]


def tampered(request: dict[str, Any], how: str) -> dict[str, Any]:
    """The request after an attacker changed one thing (``none``: the genuine request)."""
    changed = dict(request)
    if how == "path":
        scheme, _, rest = request["seen"].partition("://")
        authority, slash, tail = rest.partition("/")
        changed["seen"] = f"{scheme}://{authority}{slash}x{tail}"
    elif how == "query":
        changed["seen"] = request["seen"] + ("&" if "?" in request["seen"] else "?") + "x=1"
    elif how == "host":
        changed["seen"] = request["seen"].replace(".example.com", ".example.org", 1)
    elif how == "param-value" and request["params"]:
        params = MultiDict(request["params"])
        name = next(iter(params))
        params[name] = params[name] + "!"
        changed["params"] = params
    elif how == "param-added" and request["params"] is not None:
        changed["params"] = MultiDict(request["params"])
        changed["params"].add("Extra", "1")
    elif how == "param-removed" and request["params"]:
        params = MultiDict(request["params"])
        params.popone(next(iter(params)))
        changed["params"] = params
    elif how == "body" and request["body"] is not None:
        changed["body"] = request["body"] + " "
    elif how == "key":
        changed["key"] = "a-different-secret"
    return changed


def ours(request: dict[str, Any], signature: str, settings: str | None, key: str) -> bool:
    return validate_signature(
        request["seen"],
        signature,
        auth_token=None if request["shared_key"] else key,
        params=request["params"],
        body=request["body"],
        signature_settings=settings,
        shared_keys={"webhooks_sharedkey_1": key} if request["shared_key"] else None,
    )


def theirs(request: dict[str, Any], signature: str, settings: str | None, key: str) -> bool:
    validator = RequestValidator(key)
    params = request["body"] if request["body"] is not None else request["params"]
    result: bool = validator.validate(
        request["seen"], params, signature, algorithm=get_signature_algorithm(settings)
    )
    return result


@given(request=requests(), how=st.sampled_from(TAMPERING))
@example(
    request={
        "signed": "https://h.example.com:443/a?x=1",
        "seen": "https://h.example.com/a?x=1",
        "params": MultiDict([("To", "b"), ("To", "a"), ("To", "b")]),
        "body": None,
        "shared_key": False,
        "algorithm": HMAC_SHA1,
    },
    how="none",
)
def test_agrees_with_twilio_python_on_genuine_and_tampered_requests(
    request: dict[str, Any], how: str
) -> None:
    """Same verdict as RequestValidator for any URL, port, params, body or key change."""
    algorithm = request["algorithm"] if request["shared_key"] else HMAC_SHA1
    settings = f"key=webhooks_sharedkey_1,algorithm={algorithm}" if request["shared_key"] else None
    signer = RequestValidator(TOKEN)
    signature = signer.compute_signature(
        request["signed"], {} if request["body"] is not None else request["params"], algorithm
    )
    changed = tampered(request, how)
    key = changed.get("key", TOKEN)
    if how == "signature":
        signature = signature[:-2] + ("A=" if signature[-2] != "A" else "B=")
    verdict = ours(changed, signature, settings, key)
    assert verdict == theirs(changed, signature, settings, key)
    # A request nobody changed is valid whenever Twilio's port rules allow the spelling.
    if how == "none" and request["signed"] in url_variants(request["seen"]):
        assert verdict
    # A change the signature covers is always caught (a form has no body to change).
    if how == "signature" or (
        how in ("path", "query", "host", "body", "key") and changed != request
    ):
        assert not verdict


def test_repeated_names_contribute_each_distinct_value_once_in_order() -> None:
    """A name sent twice is signed as name+value per distinct value, values sorted."""
    url = "https://example.com/cb"
    params = [("b", "2"), ("a", "z"), ("a", "y"), ("a", "z")]
    expected = compute_signature(url + "ayazb2", key=TOKEN)
    assert compute_signature(url, key=TOKEN, params=params) == expected
    assert validate_signature(url, expected, auth_token=TOKEN, params=params)
    assert validate_signature(url, expected, auth_token=TOKEN, params={"a": ["y", "z"], "b": "2"})


@pytest.mark.parametrize(
    ("url", "variants"),
    [
        ("https://h.com/p", ("https://h.com/p", "https://h.com:443/p")),
        ("http://h.com?q=1", ("http://h.com?q=1", "http://h.com:80?q=1")),
        ("https://h.com:443/p", ("https://h.com:443/p", "https://h.com/p")),
        ("https://h.com:8443/p", ("https://h.com:8443/p", "https://h.com/p")),
        ("https://u:p@h.com/p", ("https://u:p@h.com/p", "https://u:p@h.com:443/p")),
        ("http://[::1]:8080/p", ("http://[::1]:8080/p", "http://[::1]/p")),
        ("http://[::1]/p", ("http://[::1]/p", "http://[::1]:80/p")),
        (
            "https://h.com/a%20b?x=%7E",
            ("https://h.com/a%20b?x=%7E", "https://h.com:443/a%20b?x=%7E"),
        ),
    ],
)
def test_url_variants_keep_every_byte_but_the_port(url: str, variants: tuple[str, ...]) -> None:
    """The URL is used as given (no re-encoding), with and without its (default) port."""
    assert url_variants(url) == variants


def test_json_body_is_checked_against_body_sha256_and_the_url_alone_is_signed() -> None:
    """A JSON delivery: the signature covers the URL with bodySHA256; the body must match."""
    body = b'[{"specversion": "1.0"}]'
    url = with_body_sha256("https://hooks.example.com/events", body)
    assert url.endswith("?bodySHA256=" + body_sha256(body))
    signature = compute_signature(url, key=TOKEN)
    assert validate_signature(url, signature, auth_token=TOKEN, body=body)
    assert validate_signature(url, signature, auth_token=TOKEN, body=body.decode())
    assert not validate_signature(url, signature, auth_token=TOKEN, body=body + b" ")
    no_hash = "https://hooks.example.com/events"
    assert not validate_signature(
        no_hash, compute_signature(no_hash, key=TOKEN), auth_token=TOKEN, body=body
    )


def test_params_and_body_together_are_a_programming_error() -> None:
    """Giving both a form and a JSON body is refused, not silently half-checked."""
    with pytest.raises(ValueError, match="not both"):
        validate_signature("https://h.com", "x", auth_token=TOKEN, params={"a": "1"}, body=b"{}")


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        (None, None),
        ("  ", None),
        (
            "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256",
            SignatureSettings("webhooks_sharedkey_1", HMAC_SHA256),
        ),
        (" algorithm = hmac_sha256 , key = k ", SignatureSettings("k", HMAC_SHA256)),
        ("key=k", SignatureSettings("k", HMAC_SHA1)),
        ("algorithm=HMAC_MD5", SignatureSettings(None, "HMAC_MD5")),
    ],
)
def test_signature_settings_header_is_parsed_as_twilio_writes_it(
    header: str | None, parsed: SignatureSettings | None
) -> None:
    """``key=<id>,algorithm=<name>``: spaces and case tolerated, SHA-1 when no algorithm."""
    assert SignatureSettings.parse(header) == parsed


def test_shared_key_signatures_need_the_named_key() -> None:
    """Signed with a SharedKey: the named key's secret validates; the auth token does not."""
    url = "https://hooks.example.com/cb"
    params = {"CallSid": "CA1"}
    settings = "key=webhooks_sharedkey_new,algorithm=HMAC_SHA256"
    signature = compute_signature(url, key="new-secret", params=params, algorithm=HMAC_SHA256)
    keys = {"webhooks_sharedkey_old": "old-secret", "webhooks_sharedkey_new": "new-secret"}
    check: dict[str, Any] = {"auth_token": TOKEN, "params": params, "signature_settings": settings}
    assert validate_signature(url, signature, shared_keys=keys, **check)
    assert not validate_signature(url, signature, shared_keys=None, **check)
    assert not validate_signature(
        url, signature, shared_keys={"webhooks_sharedkey_old": "new-secret"}, **check
    )
    # The same HMAC under the auth token, announced as such, is still refused.
    as_token = compute_signature(url, key=TOKEN, params=params, algorithm=HMAC_SHA256)
    assert not validate_signature(url, as_token, shared_keys=keys, **check)
    # A header naming no key: any of ours may have signed it.
    anonymous = {**check, "signature_settings": "algorithm=HMAC_SHA256"}
    assert validate_signature(url, signature, shared_keys=keys, **anonymous)
    # An algorithm we do not know never validates.
    unknown = {**check, "signature_settings": "key=webhooks_sharedkey_new,algorithm=HMAC_MD5"}
    assert not validate_signature(url, signature, shared_keys=keys, **unknown)


@pytest.mark.parametrize("signature", [None, "", "not base64 at all", "é" * 28])
def test_missing_or_garbage_signatures_are_invalid(signature: str | None) -> None:
    """No header, an empty one or any garbage (non-ASCII too) is False, never an exception."""
    assert not validate_signature("https://h.com/cb", signature, auth_token=TOKEN)
