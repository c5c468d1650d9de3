"""The one redaction point: secrets and page tokens out of every message the SDK builds.

Text that comes from a peer (an aiohttp exception quoting a malformed status line, an error
body, a next-page link, a ``Retry-After`` value) may carry what we sent: a broken proxy can
echo the ``Authorization`` header into its answer. Every message built from such text —
exception messages and URLs, log lines, hook events, the command line's one-line errors —
passes through :func:`redact` (or :func:`redact_url`) before anyone can see it.

The secrets to scrub are registered by :class:`~._credentials.Credentials` when they are
created, in each form they can be echoed in: the token or API secret itself, the whole
``Basic …`` header value and its base64 part. The registry keeps a credential's forms only
as long as the credential object lives (a weak reference drops them), so it never keeps a
secret that no client uses any more; errors built while it lived were redacted then.

``PageToken`` values in URLs are replaced too: Twilio's cursor is an opaque capability to
read the next page, and it has no place in logs or error messages. So is the password of any
URL written with one (``http://user:password@proxy:3128``), however short.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Iterable
from typing import Protocol

__all__ = [
    "LOGGER_NAME",
    "REDACTED",
    "RedactingFilter",
    "SecretHolder",
    "redact",
    "redact_url",
    "register",
]

#: The SDK's logger; every record logged on it is redacted (see :class:`RedactingFilter`).
LOGGER_NAME = "twilio_conf_insights"

#: What a secret or page token is replaced with.
REDACTED = "<redacted>"

#: Shorter strings are not scrubbed: replacing every "ab" of a message would make it
#: unreadable, and no Twilio secret is that short (auth tokens are 32 characters).
_MIN_SECRET_LENGTH = 6

# ``PageToken=…`` in a query string, up to the next parameter, fragment or quote.
_PAGE_TOKEN = re.compile(r"(?i)([?&]PageToken=)[^&#\s'\"<>]*")
# The password of a URL's user information (``scheme://user:password@host``): a proxy's,
# whatever its length (the registry skips short secrets; a URL says where its password is).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/@:\s]*:)[^@/\s]+@")


class SecretHolder(Protocol):
    """Anything that knows the forms in which its secret could be echoed back."""

    def secret_forms(self) -> tuple[str, ...]:
        """Every string to scrub."""
        ...


class _Registry:
    """The secret forms of the credentials alive in this process, and a pattern matching them.

    Keyed by object identity (two equal credentials are two registrations), each entry
    dropped when its credentials are garbage-collected.
    """

    def __init__(self) -> None:
        self._forms: dict[int, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        # Keys of collected credentials, applied under the lock. A finalizer runs whenever
        # garbage collection does, possibly in this thread in the middle of a method that
        # holds the lock or iterates ``_forms``: it only appends here (atomic), never
        # touches the dict nor the lock (as weakref.WeakSet defers its removals).
        self._dropped: list[int] = []
        self._pattern: re.Pattern[str] | None = None
        self._stale = False

    def register(self, holder: SecretHolder) -> None:
        forms = tuple(form for form in holder.secret_forms() if len(form) >= _MIN_SECRET_LENGTH)
        key = id(holder)
        with self._lock:
            self._apply_dropped()
            self._forms[key] = forms
            self._stale = True
        weakref.finalize(holder, self._dropped.append, key)

    def _apply_dropped(self) -> None:
        while self._dropped:
            self._forms.pop(self._dropped.pop(), None)
            self._stale = True

    def pattern(self) -> re.Pattern[str] | None:
        with self._lock:
            self._apply_dropped()
            if self._stale:
                secrets = {form for forms in tuple(self._forms.values()) for form in forms}
                # Longest first, so "Basic <b64>" wins over its "<b64>" part.
                ordered = sorted(secrets, key=len, reverse=True)
                self._pattern = (
                    re.compile("|".join(re.escape(secret) for secret in ordered))
                    if ordered
                    else None
                )
                self._stale = False
            return self._pattern


_registry = _Registry()


def register(holder: SecretHolder) -> None:
    """Scrub ``holder``'s secret forms from every message from now on."""
    _registry.register(holder)


def redact(text: str, *, extra: Iterable[str] = ()) -> str:
    """``text`` without any registered secret (nor ``extra`` ones), URL password or page token."""
    pattern = _registry.pattern()
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for secret in extra:
        if len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    if "@" in text:
        text = _URL_PASSWORD.sub(rf"\g<1>{REDACTED}@", text)
    return _PAGE_TOKEN.sub(rf"\g<1>{REDACTED}", text)


def redact_url(url: object) -> str:
    """A URL as text fit for a message: secrets and the ``PageToken`` value replaced."""
    return redact(str(url))


class RedactingFilter(logging.Filter):
    """Redacts every record of the SDK's logger, whatever its arguments hold.

    Installed once on the ``twilio_conf_insights`` logger, so a log line is redacted where
    it is made, before any handler (the user's included) formats it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message with its redacted text; never drops a record."""
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info is not None and record.exc_info[1] is not None:
            # An exception attached to the record is formatted by the handler: make sure its
            # text is redacted too (our exceptions are; a hook's own exception may not be).
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


logging.getLogger(LOGGER_NAME).addFilter(RedactingFilter())
