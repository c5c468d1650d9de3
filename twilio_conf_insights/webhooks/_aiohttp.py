"""The ready check for aiohttp.web: a handler decorator and a middleware."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from ._check import Rejected, SignatureCheck, VerifiedRequest

__all__ = ["VERIFIED", "signature_middleware", "signature_required", "verify"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Where a checked request keeps its :class:`VerifiedRequest` (``request[VERIFIED]``).
VERIFIED = web.RequestKey("twilio_verified_request", VerifiedRequest)


async def verify(check: SignatureCheck, request: web.Request) -> VerifiedRequest:
    """The verified request, or an ``HTTPException`` (403, 413) to answer with."""
    if check.too_large(request.content_length):
        raise web.HTTPRequestEntityTooLarge(
            max_size=check.max_body_bytes, actual_size=request.content_length or 0
        )
    body = await request.read()  # bounded by the application's client_max_size too
    if len(body) > check.max_body_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=check.max_body_bytes, actual_size=len(body))
    try:
        verified = check.check(
            urls=check.urls(scheme=request.scheme, host=request.host, path_qs=request.raw_path),
            headers=request.headers,
            content_type=request.content_type,
            body=body,
        )
    except Rejected as rejected:
        raise _http_error(rejected) from None
    request[VERIFIED] = verified
    return verified


def _http_error(rejected: Rejected) -> web.HTTPException:
    if rejected.status == 400:
        return web.HTTPBadRequest(text=rejected.reason)
    return web.HTTPForbidden(text=rejected.reason)


def signature_required(check: SignatureCheck) -> Callable[[Handler], Handler]:
    """A decorator: the handler runs only for requests Twilio signed (403 otherwise)."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            await verify(check, request)
            return await handler(request)

        return checked

    return decorate


def signature_middleware(check: SignatureCheck) -> Middleware:
    """A middleware: every request of the application must be signed by Twilio."""

    @web.middleware
    async def twilio_signature(request: web.Request, handler: Handler) -> web.StreamResponse:
        await verify(check, request)
        return await handler(request)

    return twilio_signature
