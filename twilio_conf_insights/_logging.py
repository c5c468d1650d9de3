"""The logging switch: ``TWILIO_CONF_INSIGHTS_LOG=debug|info`` logs to stderr with no code.

Like ``OPENAI_LOG``: set the variable in a service's environment and the SDK's log (each
request and each retry at ``debug``, retries and throttling at ``info``) appears on stderr,
redacted like every record of the SDK's logger (see :mod:`._redaction`). Read when a client
is created, so it also applies to the command line (where ``-v`` does the same for one run).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from ._redaction import LOGGER_NAME

__all__ = ["ENV_LOG", "configure_from_env"]

#: The environment variable that turns the log on.
ENV_LOG = "TWILIO_CONF_INSIGHTS_LOG"

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record on a line of its own."""
        try:
            sys.stderr.write(f"{self.format(record)}\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


_installed: _StderrHandler | None = None


def configure_from_env(environ: Mapping[str, str] | None = None) -> None:
    """Turn the SDK's log on as the environment says; does nothing when the variable is unset.

    Idempotent: one handler on stderr at most, whatever the number of clients. A value other than
    ``debug`` or ``info`` is ignored with a warning on the SDK's logger.
    """
    global _installed
    value = (os.environ if environ is None else environ).get(ENV_LOG, "").strip().lower()
    if not value:
        return
    logger = logging.getLogger(LOGGER_NAME)
    level = _LEVELS.get(value)
    if level is None:
        logger.warning("%s=%r is not one of debug, info: ignored", ENV_LOG, value)
        return
    if logger.getEffectiveLevel() > level or logger.level == logging.NOTSET:
        logger.setLevel(level)
    on_stderr = any(
        isinstance(handler, _StderrHandler)
        or getattr(handler, "stream", None) in (sys.stderr, sys.__stderr__)
        for handler in logger.handlers
    )
    if not on_stderr:  # the command line's -v, or the application, may print it already
        _installed = _StderrHandler()
        _installed.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        logger.addHandler(_installed)
