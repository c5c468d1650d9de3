"""``listen --db PATH|URL``: receive Twilio's Event Streams deliveries into the sync store.

This module holds the options and their checks; the server is ``_listener`` (imported only
when the command runs). The listener serves until SIGINT or SIGTERM, prints a ready line on
stderr once it accepts deliveries and a last line of counts on stdout when it stops (exit
status 0). With ``--demo`` it serves on loopback and a fake Twilio delivers to it
(``_listen_demo``): conferences start and settle, and it stops once all of them settled.
"""

from __future__ import annotations

import argparse

import attrs
from yarl import URL

from .._credentials import ENV_AUTH_TOKEN
from .._errors import ConfigurationError, InvalidArgumentError
from .._urls import display_url
from ._options import PROG
from ._runtime import Runtime
from ._sync_parser import STORE
from ._values import int_at_least, port

__all__ = [
    "DEMO_COUNT",
    "ENV_PUBLIC_URL",
    "LISTEN_DESCRIPTION",
    "SinkAddress",
    "listen",
    "listen_options",
    "sink_address",
]

#: The sink URL Twilio calls (it may hold Basic credentials), instead of ``--public-url``.
ENV_PUBLIC_URL = "TWILIO_CONF_INSIGHTS_PUBLIC_URL"
#: The port ``listen`` serves on without ``--port`` (``--demo``: any free one).
DEFAULT_PORT = 8080
#: The path deliveries are POSTed to, when neither ``--path`` nor the public URL says.
DEFAULT_PATH = "/events"
#: Demo conferences without ``--count``.
DEMO_COUNT = 10

#: ``listen --help``'s description.
LISTEN_DESCRIPTION = (
    "Receive Twilio Event Streams deliveries (a webhook sink subscribed to the Voice\n"
    "Insights conference and participant summary events) and write the summaries into\n"
    "the store, the same tables `sync` writes: `report --db` and `export --db` show a\n"
    "conference seconds after Twilio finished its summary.\n\n"
    f"Signatures are checked with ${ENV_AUTH_TOKEN} against --public-url, the sink\n"
    "URL Twilio calls (set it behind a proxy). A sink URL with Basic credentials is\n"
    f"better given in ${ENV_PUBLIC_URL}. A delivery is acknowledged (204)\n"
    "only once committed, answered 503 when the store cannot commit (Twilio delivers it\n"
    "again). Serves until Ctrl-C or SIGTERM, then prints what it received.\n\n"
    f"  {PROG} listen --db insights.db --public-url https://hooks.example.com/events\n"
    f"  {PROG} --demo listen --db demo.db     # a fake Twilio delivers to it, offline"
)


def listen_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``listen``."""
    STORE.add(parser, help="the store: an SQLite file (created if missing) or a postgresql:// URL")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=port,
        default=None,
        help=f"TCP port (default: {DEFAULT_PORT}; with --demo any free one)",
    )
    parser.add_argument(
        "--path",
        default=None,
        metavar="/PATH",
        help=f"the path deliveries are POSTed to (default: --public-url's, else {DEFAULT_PATH})",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        metavar="URL",
        help="the sink URL Twilio calls, as configured in the sink (default: "
        f"${ENV_PUBLIC_URL} if set, else the URL each request names)",
    )
    parser.add_argument(
        "--count",
        type=int_at_least(1),
        default=None,
        metavar="N",
        help=f"with --demo: conferences the fake starts and settles (default: {DEMO_COUNT})",
    )


# -- where Twilio calls ---------------------------------------------------------------------


@attrs.frozen
class SinkAddress:
    """Where deliveries arrive: the local path, and the public URL Twilio signs (if known)."""

    path: str
    #: The sink URL as Twilio has it (``None``: each request's own URL is checked).
    public_url: str | None = None
    #: ``public_url`` without the local path: what the application factory takes.
    public_base: str | None = None

    def shown(self) -> str:
        """How the ready line names the signed URL (never a password)."""
        if self.public_url is None:
            return "the URL each request names (set --public-url behind a proxy)"
        return display_url(self.public_url)


def sink_address(path: str | None, public_url: str | None) -> SinkAddress:
    """Check ``--path`` and ``--public-url`` together.

    The public URL is the sink's destination exactly as configured at Twilio (signatures
    are over it, byte for byte): absolute http(s), no query (Twilio adds ``bodySHA256``).
    Its path must end with ``--path`` (by default, it is ``--path``): a proxy in front may
    strip a prefix, not rewrite the rest.
    """
    if path is not None and not path.startswith("/"):
        raise InvalidArgumentError(f"--path must start with /, got {path!r}")
    if public_url is None:
        return SinkAddress(path or DEFAULT_PATH)
    # Never echoed in errors: the URL may carry the sink's password.
    try:
        url = URL(public_url, encoded=True)
    except ValueError:
        raise InvalidArgumentError("--public-url is not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidArgumentError("--public-url must be an absolute http(s) URL")
    if url.raw_query_string or url.raw_fragment or public_url.endswith(("?", "#")):
        raise InvalidArgumentError(
            "--public-url takes no query or fragment: Twilio adds bodySHA256 to the URL itself"
        )
    wanted = path or url.raw_path
    if not url.raw_path.endswith(wanted):
        raise InvalidArgumentError(
            f"--public-url's path must end with --path ({wanted}): a proxy in front may "
            "strip a prefix, not rewrite the path"
        )
    base = public_url[: -len(wanted)] if public_url.endswith(wanted) else public_url
    return SinkAddress(wanted, public_url, base)


def auth_token(runtime: Runtime) -> str:
    """The account's auth token: Twilio signs every delivery with it."""
    token = runtime.environ.get(ENV_AUTH_TOKEN) or None
    if token is None:
        raise ConfigurationError(
            f"listen checks Twilio's signatures with the account's auth token: set "
            f"{ENV_AUTH_TOKEN} (an API key cannot check them); or add --demo to try it "
            "against a built-in fake Twilio"
        )
    return token


async def listen(args: argparse.Namespace, runtime: Runtime) -> int:
    """``listen``: serve until SIGINT/SIGTERM (``--demo``: until the demo settled)."""
    db = STORE.text(args.db, runtime.environ)
    if args.demo:
        from ._listen_demo import listen_demo  # the fake Twilio: only for --demo

        count = DEMO_COUNT if args.count is None else args.count
        return await listen_demo(
            runtime, db=db, path=args.path or DEFAULT_PATH, port=args.port or 0, count=count
        )
    if args.count is not None:
        raise InvalidArgumentError("--count is for --demo: a listener serves until stopped")
    public_url = args.public_url or runtime.environ.get(ENV_PUBLIC_URL) or None
    address = sink_address(args.path, public_url)
    token = auth_token(runtime)
    from ._listener import listen_until_stopped  # aiohttp.web and the store: only to serve

    return await listen_until_stopped(
        runtime,
        db=db,
        token=token,
        path=address.path,
        public_base=address.public_base,
        signed=address.shown(),
        host=args.host,
        port=DEFAULT_PORT if args.port is None else args.port,
    )
