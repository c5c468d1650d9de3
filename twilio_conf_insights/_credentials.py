"""Credentials: who we are to Twilio, kept out of every repr, str and log line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypedDict

import aiohttp
import attrs

from . import _redaction
from ._errors import ConfigurationError
from ._validation import is_sid

__all__ = ["Credentials"]


ENV_ACCOUNT_SID = "TWILIO_ACCOUNT_SID"
ENV_AUTH_TOKEN = "TWILIO_AUTH_TOKEN"
ENV_API_KEY = "TWILIO_API_KEY"
ENV_API_SECRET = "TWILIO_API_SECRET"

_MISSING_HELP = (
    f"set {ENV_ACCOUNT_SID} and {ENV_AUTH_TOKEN} "
    f"(or {ENV_ACCOUNT_SID}, {ENV_API_KEY} and {ENV_API_SECRET} for API-key auth), "
    "or pass account_sid= and auth_token= (or api_key= and api_secret=)"
)


class CredentialArguments(TypedDict):
    """The credential arguments of :class:`InsightsClient`, as the environment gives them."""

    account_sid: str | None
    auth_token: str | None
    api_key: str | None
    api_secret: str | None


@attrs.frozen(repr=False)
class Credentials:
    """An account SID plus either its auth token or an API key and secret.

    The secret is only ever turned into the ``Authorization`` header; ``repr`` and ``str``
    show the account SID and the key SID, never the token or secret.
    """

    account_sid: str
    #: The Basic-auth user: the account SID, or the API key SID.
    username: str
    _password: str = attrs.field(alias="password")

    def __attrs_post_init__(self) -> None:
        # From now on, every message the SDK builds is scrubbed of this secret.
        _redaction.register(self)

    @classmethod
    def resolve(
        cls,
        account_sid: str | None,
        auth_token: str | None,
        api_key: str | None,
        api_secret: str | None,
    ) -> Credentials:
        """Validate one of the two credential forms and build the credentials."""
        if not account_sid:
            raise ConfigurationError(f"no Twilio account SID: {_MISSING_HELP}")
        if not isinstance(account_sid, str) or not is_sid(account_sid, "AC"):
            raise ConfigurationError(
                "account_sid must be 'AC' followed by 32 hex digits "
                f"({ENV_ACCOUNT_SID}), got {_redacted_shape(account_sid)}"
            )
        if api_key or api_secret:
            if auth_token:
                raise ConfigurationError("give either auth_token or api_key/api_secret, not both")
            if not api_key or not api_secret:
                raise ConfigurationError(
                    "API-key auth needs both api_key and api_secret "
                    f"({ENV_API_KEY}, {ENV_API_SECRET})"
                )
            if not isinstance(api_key, str) or not is_sid(api_key, "SK"):
                raise ConfigurationError(
                    f"api_key must be 'SK' followed by 32 hex digits ({ENV_API_KEY}), "
                    f"got {_redacted_shape(api_key)}"
                )
            _check_secret(api_secret, "api_secret")
            return cls(account_sid, api_key, api_secret)
        if not auth_token:
            raise ConfigurationError(f"no Twilio auth token: {_MISSING_HELP}")
        _check_secret(auth_token, "auth_token")
        return cls(account_sid, account_sid, auth_token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Credentials:
        """Read credentials from the environment variables twilio-python uses."""
        return cls.resolve(**cls.env_arguments(os.environ if environ is None else environ))

    @staticmethod
    def env_arguments(env: Mapping[str, str]) -> CredentialArguments:
        """The four credential arguments as the environment gives them (unset or empty: None)."""
        return {
            "account_sid": env.get(ENV_ACCOUNT_SID) or None,
            "auth_token": env.get(ENV_AUTH_TOKEN) or None,
            "api_key": env.get(ENV_API_KEY) or None,
            "api_secret": env.get(ENV_API_SECRET) or None,
        }

    def authorization_header(self) -> str:
        """The value of the ``Authorization`` header (HTTP Basic)."""
        return aiohttp.encode_basic_auth(self.username, self._password)

    def secret_forms(self) -> tuple[str, ...]:
        """Every form in which the secret could be echoed back, to scrub from messages."""
        header = self.authorization_header()
        return (header, header.partition(" ")[2], self._password)

    @property
    def uses_api_key(self) -> bool:
        """Whether these are API-key credentials."""
        return self.username != self.account_sid

    def __repr__(self) -> str:
        key = f", api_key={self.username!r}" if self.uses_api_key else ""
        return f"Credentials(account_sid={self.account_sid!r}{key}, secret=<redacted>)"

    __str__ = __repr__


def _check_secret(value: object, name: str) -> None:
    if not isinstance(value, str):
        raise ConfigurationError(f"{name} must be a string")
    if any(ch in value for ch in "\r\n"):
        raise ConfigurationError(f"{name} must not contain line breaks")


def _redacted_shape(value: object) -> str:
    # A mistyped SID may be a secret pasted into the wrong variable: describe, don't echo.
    if not isinstance(value, str):
        return f"a {type(value).__name__}"
    return f"a {len(value)}-character string starting {value[:2]!r}"
