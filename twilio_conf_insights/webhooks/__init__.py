"""Checking that webhooks come from Twilio (``X-Twilio-Signature``).

:func:`validate_signature` checks one request, form-encoded or JSON (``bodySHA256``),
signed with the auth token or with a SharedKey (``X-Twilio-Webhooks-Signature-Settings``)::

    from twilio_conf_insights.webhooks import validate_signature

    ok = validate_signature(
        "https://hooks.example.com/conference-events",
        request.headers["X-Twilio-Signature"],
        auth_token=auth_token,
        params=form,
    )

:class:`SignatureCheck` is the ready check for web applications, with the public URL Twilio
calls when the application sits behind a proxy::

    check = SignatureCheck(auth_token=token, public_url="https://hooks.example.com")

    @check.aiohttp                      # aiohttp.web: a handler decorator (or
    async def events(request): ...      # web.Application(middlewares=[check.aiohttp_middleware]))

    @app.post("/events")                # FastAPI: a dependency
    async def events(hook: Annotated[VerifiedRequest, Depends(check.starlette)]): ...

Starlette is imported only by :attr:`SignatureCheck.starlette`: the package does not need it.
"""

from ._check import DEFAULT_MAX_BODY_BYTES, SignatureCheck, VerifiedRequest
from ._signature import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    FormParams,
    SignatureSettings,
    body_sha256,
    compute_signature,
    url_variants,
    validate_signature,
    with_body_sha256,
)

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "HMAC_SHA1",
    "HMAC_SHA256",
    "SIGNATURE_HEADER",
    "SIGNATURE_SETTINGS_HEADER",
    "FormParams",
    "SignatureCheck",
    "SignatureSettings",
    "VerifiedRequest",
    "body_sha256",
    "compute_signature",
    "url_variants",
    "validate_signature",
    "with_body_sha256",
]
