"""Twilio's error bodies, and the exception handlers raise to produce one."""

from __future__ import annotations

from typing import Any

__all__ = ["ErrorResponse", "error_body"]

_REASONS = {
    400: "Bad Request",
    401: "Authenticate",
    404: "Not Found",
    405: "Method not allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# Twilio numbers most HTTP errors 20000 + status; the exceptions are listed here.
_CODES = {400: 20001, 401: 20003, 405: 20004}


def error_body(status: int, message: str | None = None, code: int | None = None) -> dict[str, Any]:
    """The four-key JSON body Twilio sends with an error status."""
    code = code if code is not None else _CODES.get(status, 20000 + status)
    return {
        "code": code,
        "message": message if message is not None else _REASONS.get(status, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class ErrorResponse(Exception):
    """Raised by route handlers to answer with a Twilio error body.

    Not the SDK's :class:`twilio_conf_insights.ApiError` (what a client raises on such an
    answer): this is the server's side of it.
    """

    def __init__(self, status: int, message: str | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = error_body(status, message, code)

    @classmethod
    def not_found(cls, path: str) -> ErrorResponse:
        """Twilio's 20404 for a path that names nothing."""
        return cls(404, f"The requested resource {path} was not found")

    @classmethod
    def bad_request(cls, message: str) -> ErrorResponse:
        """Twilio's 20001 for an invalid parameter."""
        return cls(400, message)
