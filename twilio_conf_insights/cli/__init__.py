"""The ``twilio-conf-insights`` command line (also ``python -m twilio_conf_insights``).

:func:`main` parses the arguments, runs the command on a fresh event loop and turns every
expected failure into one line on stderr and an exit status:

* ``0`` success;
* ``2`` usage error: bad option or value (the SDK's ``InvalidArgumentError``, e.g. a
  malformed SID), missing credentials (``ConfigurationError``);
* ``1`` API, transport or file error (``TwilioInsightsError``, ``OSError``);
* ``130`` Ctrl-C, ``143`` SIGTERM: the command is cancelled, so an export removes its
  temporary file; ``141`` when stdout's reader goes away (``… | head``).

Messages are the errors' ``str()``, redacted (see ``_redaction``): never a credential.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence

import attrs

from .._errors import InvalidArgumentError, TwilioInsightsError
from .._redaction import LOGGER_NAME, redact
from ._exit import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
)
from ._options import PROG, client_options
from ._parser import parse_args
from ._runtime import Command, Runtime

__all__ = ["main"]


@attrs.define
class _Termination:
    """Whether SIGTERM cancelled the command (as opposed to another cancellation)."""

    requested: bool = False


def _one_line(text: str) -> str:
    # A server's message may span lines; the contract is one line per failure. Redacted
    # again here: an OSError or a third-party error did not pass the SDK's redaction.
    return " ".join(redact(text).split())


def _fail(message: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"{PROG}: {_one_line(message)}\n")
        sys.stderr.flush()


@contextlib.contextmanager
def _log_to_stderr(enabled: bool) -> Iterator[None]:
    # -v: the SDK's DEBUG log (each request, each retry) on stderr. The SDK's logger
    # redacts every record itself, so what it prints carries no secret.
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{PROG}: %(levelname)s %(message)s"))
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _silence_stdout() -> None:
    # The reader is gone: point stdout at /dev/null so the interpreter's final flush
    # does not fail again with a second BrokenPipeError message.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


async def _run(
    command: Command, args: argparse.Namespace, runtime: Runtime, term: _Termination
) -> int:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_sigterm() -> None:
        term.requested = True
        if task is not None:
            task.cancel()

    # SIGTERM cancels the command like Ctrl-C does (asyncio.run handles SIGINT), so that
    # cleanup runs: a killed export must not leave its temporary file behind.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    status = await command(args, runtime)
    runtime.stdout.flush()
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    try:
        args = parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a usage error argparse printed
        code = exit_.code
        return 0 if code is None else code if isinstance(code, int) else EXIT_USAGE
    with _log_to_stderr(args.verbose):
        return _execute(args)


def _execute(args: argparse.Namespace) -> int:
    runtime = Runtime(
        stdout=sys.stdout,
        stderr=sys.stderr,
        environ=os.environ,
        client_options=client_options(args),
        quiet=args.quiet,
    )
    term = _Termination()
    try:
        return asyncio.run(_run(args.run, args, runtime, term))
    except KeyboardInterrupt:
        _fail("interrupted")
        return EXIT_INTERRUPTED
    except asyncio.CancelledError:
        if not term.requested:
            raise
        _fail("terminated")
        return EXIT_TERMINATED
    except InvalidArgumentError as error:
        _fail(f"error: {error}")
        return EXIT_USAGE
    except TwilioInsightsError as error:
        _fail(f"error: {error}")
        return EXIT_FAILURE
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except OSError as error:
        _fail(f"error: {error}")
        return EXIT_FAILURE
