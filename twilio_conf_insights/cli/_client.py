"""Where the CLI's client comes from: the environment, or the built-in demo server."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from .._client import ENV_API_BASE_URL, ENV_INSIGHTS_BASE_URL, InsightsClient
from .._errors import ConfigurationError
from .._events import EventHook
from .._limiter import Limiter

__all__ = [
    "DEMO_CONFERENCES",
    "DEMO_LATENCY",
    "DEMO_SEED",
    "ENV_API_BASE_URL",
    "ENV_INSIGHTS_BASE_URL",
    "ClientOptions",
    "open_client",
]

#: Size of the ``--demo`` data set: enough for a report with something in every section.
DEMO_CONFERENCES = 200
#: Seed of the ``--demo`` data set, fixed so that SIDs seen in one run work in the next.
DEMO_SEED = 7
#: How to try the command line without an account, added to configuration errors.
DEMO_HINT = (
    "or add --demo to try it against a built-in fake Twilio (twilio-conf-insights --demo report)"
)
#: Seconds the demo server adds to each response, so progress and concurrency are visible.
DEMO_LATENCY = 0.003


@attrs.frozen
class ClientOptions:
    """The client settings of the global options; ``None`` keeps the SDK's default."""

    demo: bool = False
    max_concurrency: int | None = None
    timeout: float | None = None
    insights_base_url: str | None = None
    api_base_url: str | None = None
    #: ``--proxy``: every request through it (else ``HTTPS_PROXY``/``NO_PROXY`` decide).
    proxy: str | None = attrs.field(default=None, repr=False)
    #: A limiter the command built (``worker``'s shared budget); it then holds the
    #: ``max_concurrency``.
    limiter: Limiter | None = attrs.field(default=None, repr=False)

    def tuning(self) -> dict[str, Any]:
        """The constructor options that were given."""
        options: dict[str, Any] = {}
        if self.limiter is not None:
            options["limiter"] = self.limiter
        elif self.max_concurrency is not None:
            options["max_concurrency"] = self.max_concurrency
        if self.timeout is not None:
            options["timeout"] = self.timeout
        if self.proxy is not None:
            options["proxy"] = self.proxy
        return options


@contextlib.asynccontextmanager
async def open_client(
    options: ClientOptions,
    *,
    environ: Mapping[str, str],
    hooks: Sequence[EventHook] = (),
) -> AsyncIterator[InsightsClient]:
    """A client for the command, closed (with the demo server, if any) on the way out.

    Without ``demo``, credentials come from :meth:`InsightsClient.from_env`; a missing one
    raises :class:`~twilio_conf_insights._errors.ConfigurationError` naming the variables.
    """
    if options.demo:
        async with _demo_client(options, hooks) as client:
            yield client
        return
    # The environment is read by from_env, exactly as a library user's program reads it;
    # --insights-base-url / --api-base-url win over it.
    overrides = {
        "insights_base_url": options.insights_base_url,
        "api_base_url": options.api_base_url,
    }
    try:
        client = InsightsClient.from_env(environ, hooks=hooks, **overrides, **options.tuning())
    except ConfigurationError as error:
        raise ConfigurationError(f"{error}; {DEMO_HINT}") from None
    async with client:
        yield client


@contextlib.asynccontextmanager
async def _demo_client(
    options: ClientOptions, hooks: Sequence[EventHook]
) -> AsyncIterator[InsightsClient]:
    # Imported here: the fake server (and its data generator) is only needed for --demo.
    from ..testing import FakeTwilio

    fake = FakeTwilio(
        conferences=DEMO_CONFERENCES,
        seed=DEMO_SEED,
        latency=DEMO_LATENCY,
        now=datetime.now(UTC),  # recent data: "the last 24 hours" is never empty
    )
    async with (
        fake,
        InsightsClient(
            fake.account_sid,
            fake.auth_token,
            insights_base_url=fake.insights_base_url,
            api_base_url=fake.api_base_url,
            hooks=hooks,
            # The demo's server is on this machine: a proxy only when --proxy asks for one.
            trust_env=False,
            **options.tuning(),
        ) as client,
    ):
        yield client
