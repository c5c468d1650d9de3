"""A fake Twilio for offline tests, demos and benchmarks.

:class:`FakeTwilio` is an aiohttp server on loopback that serves the six GET routes the SDK
uses (Insights conference and participant summaries, 2010 live participants) from seeded
synthetic data, with Twilio's pagination, filters, HTTP Basic auth, error bodies, added
latency and fault injection::

    from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

    async with FakeTwilio(conferences=200, seed=7) as fake:
        fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="1"), count=2)
        client = InsightsClient(
            fake.account_sid,
            fake.auth_token,
            insights_base_url=fake.insights_base_url,
            api_base_url=fake.api_base_url,
        )
        ...
        assert fake.requests[0].status == 429

With ``event_sink=URL`` (``fake-server --sink URL``) it also delivers signed Event Streams
events to that URL as conferences appear and settle (:class:`EventStream`,
:class:`EventDelivery`).

Run ``python -m twilio_conf_insights.testing --help`` to serve it from a terminal.

:func:`fast_retries` makes every client retry without waiting, so tests of code that meets
faults run at full speed.
"""

from .._testmode import fast_retries
from ._concurrency import ConcurrencyCap
from ._data import FakeData
from ._event_streams import DeliveryAttempt, EventDelivery, EventStream
from ._faults import Fault, FaultInjector, FaultKind
from ._processing import ProcessingStates
from ._records import RecordedRequest
from ._server import FakeTwilio

__all__ = [
    "ConcurrencyCap",
    "DeliveryAttempt",
    "EventDelivery",
    "EventStream",
    "FakeData",
    "FakeTwilio",
    "Fault",
    "FaultInjector",
    "FaultKind",
    "ProcessingStates",
    "RecordedRequest",
    "fast_retries",
]
