"""The process exit statuses of the command line, in one place.

``0``, ``1`` and ``2`` follow the usual Unix meaning; the signal statuses follow the
shell's ``128 + signal number`` convention, so ``$?`` reads the same as for a process the
signal killed outright.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
]

#: Success.
EXIT_OK = 0
#: An API, transport or file error (one line on stderr explains it).
EXIT_FAILURE = 1
#: The command line, an argument value or the configuration is invalid.
EXIT_USAGE = 2
#: Interrupted by Ctrl-C (SIGINT).
EXIT_INTERRUPTED = 130
#: The reader of stdout went away (``… | head``): stopped quietly, as on SIGPIPE.
EXIT_BROKEN_PIPE = 141
#: Stopped by SIGTERM.
EXIT_TERMINATED = 143
