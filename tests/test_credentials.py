"""Credentials as a user gives them: each wrong form refused in one line, secrets never echoed."""

from __future__ import annotations

import pytest

from twilio_conf_insights import ConfigurationError, InsightsClient

SID = "AC" + "a" * 32
KEY = "SK" + "b" * 32


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"TWILIO_ACCOUNT_SID": "ACnot-a-sid", "TWILIO_AUTH_TOKEN": "t"}, "11-character string"),
        (
            {"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "t", "TWILIO_API_KEY": KEY},
            "either auth_token or api_key/api_secret, not both",
        ),
        ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_API_SECRET": "s"}, "needs both api_key and"),
        (
            {
                "TWILIO_ACCOUNT_SID": SID,
                "TWILIO_API_KEY": "my-secret-key",
                "TWILIO_API_SECRET": "s",
            },
            "api_key must be 'SK' followed by 32 hex digits",
        ),
        (
            {"TWILIO_ACCOUNT_SID": SID, "TWILIO_API_KEY": KEY, "TWILIO_API_SECRET": "a\nb"},
            "api_secret must not contain line breaks",
        ),
        ({"TWILIO_ACCOUNT_SID": SID, "TWILIO_AUTH_TOKEN": "to\rken"}, "auth_token must not"),
    ],
)
def test_wrong_credentials_are_one_line_without_the_value(env: dict[str, str], says: str) -> None:
    """A mistyped SID may be a pasted secret: the error describes its shape, never its text."""
    with pytest.raises(ConfigurationError) as caught:
        InsightsClient.from_env(env)
    message = str(caught.value)
    assert says in message
    assert "\n" not in message
    for value in env.values():
        if value not in (SID, KEY, "t", "s"):
            assert value not in message


def test_a_non_string_secret_is_refused() -> None:
    """A secret that is not a string (a bytes value from a vault, say) is named, not used."""
    with pytest.raises(ConfigurationError, match="auth_token must be a string"):
        InsightsClient(SID, b"token")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="account_sid must be 'AC'"):
        InsightsClient(12345, "token")  # type: ignore[arg-type]


async def test_api_key_credentials_are_accepted_and_never_printed() -> None:
    """API-key auth builds a client that works; its repr never shows the secret."""
    client = InsightsClient.from_env(
        {"TWILIO_ACCOUNT_SID": SID, "TWILIO_API_KEY": KEY, "TWILIO_API_SECRET": "s3cret-value"}
    )
    async with client:
        assert "s3cret-value" not in repr(client)
        assert client.account_sid == SID
