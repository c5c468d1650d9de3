"""The connection: the aiohttp session, the proxies, the credentials and the User-Agent.

One per client, shared by every view of it (``with_options``), and the only object that
closes the session. The session is created on first use, in the running event loop, with
one pooled connection per slot of the limiter; a session the user passed in is used as is
and never closed.
"""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Collection, Mapping, Sequence

import aiohttp
from yarl import URL

from ._credentials import Credentials
from ._errors import ClientClosedError, ConfigurationError, ForeignOriginError
from ._proxy import Proxies
from ._urls import Origin, describe_origin, origin_of
from ._version import __version__

__all__ = ["USER_AGENT", "Connection", "user_agent"]

#: The SDK's own product tokens in the User-Agent header.
USER_AGENT = (
    f"twilio-conf-insights/{__version__} aiohttp/{aiohttp.__version__} "
    f"python/{sys.version_info.major}.{sys.version_info.minor}"
)


def user_agent(extensions: Sequence[str], session_agent: str | None = None) -> str:
    """The User-Agent sent: a session's own first, then ours, then the caller's extensions.

    Extensions are product tokens such as ``"myapp/1.2"`` (twilio-python's
    ``user_agent_extensions``), so Twilio's logs and a proxy's tell which app is calling.
    """
    if isinstance(extensions, str) or not all(isinstance(e, str) for e in extensions):
        raise ConfigurationError(
            'user_agent_extensions must be a sequence of strings, e.g. ("myapp/1.2",)'
        )
    for extension in extensions:
        if not extension.strip() or any(not 32 <= ord(ch) < 127 for ch in extension):
            raise ConfigurationError(
                f"a User-Agent extension must be printable ASCII, got {extension!r}"
            )
    parts = [session_agent] if session_agent else []
    return " ".join([*parts, USER_AGENT, *(e.strip() for e in extensions)])


class Connection:
    """What every request of a client goes out through; see the module documentation."""

    def __init__(
        self,
        *,
        credentials: Credentials,
        origins: Collection[Origin],
        proxies: Proxies,
        pool_size: int,
        session: aiohttp.ClientSession | None = None,
        user_agent_extensions: Sequence[str] = (),
    ) -> None:
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ConfigurationError("session must be an aiohttp.ClientSession")
        self.credentials = credentials
        self.proxies = proxies
        self._origins = frozenset(origins)
        self._pool_size = pool_size
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        agent = user_agent(
            user_agent_extensions,
            session.headers.get("User-Agent") if session is not None else None,
        )
        #: The headers of every request (read-only).
        self.headers: Mapping[str, str] = types.MappingProxyType(
            {
                "Authorization": credentials.authorization_header(),
                "User-Agent": agent,
                "Accept": "application/json",
            }
        )
        #: Secrets to scrub from error bodies besides the registered ones.
        self.secret_forms = credentials.secret_forms()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use; ``ClientClosedError`` once closed."""
        if self._closed:
            raise ClientClosedError("this client is closed; create a new InsightsClient")
        if (
            self._owns_session
            and self._session is not None
            and self._loop is not asyncio.get_running_loop()
        ):
            raise ClientClosedError(
                "this client's connection pool belongs to another event loop: "
                "create one client per event loop (inside the coroutine that asyncio.run runs)"
            )
        if self._session is None:
            self._loop = asyncio.get_running_loop()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                # Per-attempt deadlines are ours (asyncio.timeout), not aiohttp's 5-minute default.
                timeout=aiohttp.ClientTimeout(total=None),
                # The proxies were decided from the environment already (see _proxy); aiohttp's
                # own reading would cost a thread hop per request.
                trust_env=False,
            )
        return self._session

    def check_origin(self, url: URL) -> None:
        """Refuse any URL outside the configured Twilio origins: credentials stay home."""
        if origin_of(url) not in self._origins or url.user is not None or url.password is not None:
            raise ForeignOriginError(
                f"refusing to send credentials to {describe_origin(url)}: "
                "not one of the configured API hosts"
            )

    async def aclose(self) -> None:
        """Close the session if we opened it; a session the user passed in is left open."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
