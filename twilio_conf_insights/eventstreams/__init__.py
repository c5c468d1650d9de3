"""Twilio Event Streams: Voice Insights summaries pushed to you as they are ready.

Twilio delivers events to a webhook sink as POSTs whose body is a JSON array of CloudEvents,
signed with ``X-Twilio-Signature`` over the sink URL plus ``bodySHA256``. This package
decodes them and serves them:

* :class:`CloudEvent`: the envelope (``specversion``, ``type``, ``source``, ``id``,
  ``time``, ``dataschema``, ``datacontenttype``, ``subject``, ``data``; unknown keys kept);
* :func:`parse_delivery`: a body into a :class:`Delivery` whose ``records`` are
  :class:`ConferenceSummaryEvent` / :class:`ParticipantSummaryEvent` (the summary decoded
  by the same converter as the API's, with its event), other event types set apart;
* :func:`create_app`: an aiohttp.web application that checks each delivery and hands it to
  your sink, answering 2xx only once the sink returned;
* :class:`StoreSink`: a sink writing the summaries into a sync store (SQLite or
  PostgreSQL), the same tables ``sync`` writes, several deliveries per transaction under
  load (what ``twilio-conf-insights listen`` runs)::

    from twilio_conf_insights import eventstreams

    async def sink(delivery: eventstreams.Delivery) -> None:
        for record in delivery.records:
            await save(record.summary, record.time)   # raise SinkUnavailableError to retry

    app = eventstreams.create_app(sink, auth_token=token, public_url="https://hooks.example.com")

    # or, into the store a sync keeps:
    async with SQLiteStore("insights.db") as store, eventstreams.StoreSink(store) as sink:
        app = eventstreams.create_app(sink, auth_token=token, public_url=...)
"""

from ._app import STATS, DeliveryStats, Sink, SinkUnavailableError, create_app
from ._delivery import (
    ConferenceSummaryEvent,
    Delivery,
    MalformedDeliveryError,
    ParticipantSummaryEvent,
    SummaryEvent,
    parse_delivery,
    record_of,
)
from ._envelope import CloudEvent, EventType
from ._store_sink import StoreSink, StoreSinkStats, records_of

__all__ = [
    "STATS",
    "CloudEvent",
    "ConferenceSummaryEvent",
    "Delivery",
    "DeliveryStats",
    "EventType",
    "MalformedDeliveryError",
    "ParticipantSummaryEvent",
    "Sink",
    "SinkUnavailableError",
    "StoreSink",
    "StoreSinkStats",
    "SummaryEvent",
    "create_app",
    "parse_delivery",
    "record_of",
    "records_of",
]
