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
  your sink, answering 2xx only once the sink returned::

    from twilio_conf_insights import eventstreams

    async def sink(delivery: eventstreams.Delivery) -> None:
        for record in delivery.records:
            await save(record.summary, record.time)   # raise SinkUnavailableError to retry

    app = eventstreams.create_app(sink, auth_token=token, public_url="https://hooks.example.com")
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
    "SummaryEvent",
    "create_app",
    "parse_delivery",
    "record_of",
]
