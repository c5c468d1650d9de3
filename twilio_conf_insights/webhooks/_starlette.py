"""The ready check for FastAPI and Starlette: a dependency returning the verified request.

Imported only when :attr:`SignatureCheck.starlette` is first used, so the package does not
depend on Starlette. No ``from __future__ import annotations`` here: FastAPI reads the
dependency's parameter annotation at run time, and it must be Starlette's real ``Request``.
"""

from collections.abc import Awaitable, Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request

from ._check import Rejected, SignatureCheck, VerifiedRequest

__all__ = ["verifier"]


def _path_qs(request: Request) -> str:
    # The path as received, undecoded (ASGI's raw_path, which includes a mount's prefix).
    raw = request.scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path
    query = request.scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def verifier(check: SignatureCheck) -> Callable[[Request], Awaitable[VerifiedRequest]]:
    """The dependency for ``check`` (see :attr:`SignatureCheck.starlette`)."""

    async def verified_twilio_request(request: Request) -> VerifiedRequest:
        """The request, verified as Twilio's; 403 (or 411/413) otherwise."""
        length = request.headers.get("Content-Length")
        if request.method not in ("GET", "HEAD") and length is None:
            # Bounding a chunked body would mean consuming the stream the endpoint reads.
            raise HTTPException(411, "Content-Length required")
        if check.too_large(int(length) if length and length.isdigit() else None):
            raise HTTPException(413, "body too large")
        body = await request.body()  # exactly Content-Length bytes (the server frames it)
        content_type = request.headers.get("Content-Type", "").partition(";")[0].strip()
        try:
            return check.check(
                urls=check.urls(
                    scheme=request.url.scheme,
                    host=request.headers.get("Host", request.url.netloc),
                    path_qs=_path_qs(request),
                ),
                headers=request.headers,
                content_type=content_type.lower(),
                body=body,
            )
        except Rejected as rejected:
            raise HTTPException(rejected.status, rejected.reason) from None

    return verified_twilio_request
