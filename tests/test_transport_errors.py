"""What failed calls raise: typed transport and decode errors, aiohttp's failures mapped."""

from __future__ import annotations

import aiohttp
import pytest

from tests.helpers import ClientFactory
from twilio_conf_insights import DecodeError, RetryExhaustedError, RetryPolicy, TransportError
from twilio_conf_insights._transport import transport_error
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


async def test_exhausted_transport_errors_are_typed(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Resets that exhaust the budget surface as a TransportError inside RetryExhaustedError."""
    client = make_client(retry=RetryPolicy(max_attempts=2))
    fake.faults.queue(Fault(FaultKind.CONNECTION_RESET), count=5)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert isinstance(caught.value.last_error, TransportError)
    assert caught.value.attempts == 2


async def test_malformed_json_exhausted_is_a_decode_error(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A 200 whose body is not JSON is retried, and ends as a DecodeError if it stays broken."""
    client = make_client(retry=RetryPolicy(max_attempts=2))
    fake.faults.queue(Fault(FaultKind.MALFORMED_JSON), count=2)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert isinstance(caught.value.last_error, DecodeError)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), "timeout"),
        (aiohttp.ServerTimeoutError("read"), "timeout"),
        (aiohttp.ClientPayloadError("cut"), "payload"),
        (aiohttp.ServerDisconnectedError(), "disconnected"),
        (aiohttp.ClientConnectionError("refused"), "connect"),
        (aiohttp.ClientOSError(111, "refused"), "connect"),
        (aiohttp.InvalidURL("x"), "other"),
    ],
)
def test_aiohttp_failures_map_to_transport_error_kinds(exc: BaseException, kind: str) -> None:
    """Each aiohttp failure becomes the TransportError kind of the table, unchained."""
    error = transport_error(exc, url="https://insights.twilio.com/v1/x", timeout=2.5)
    assert error.kind == kind
    assert error.__cause__ is None and error.__context__ is None
    assert ("2.5s" in str(error)) is (kind == "timeout")
