"""What every command is: arguments and a :class:`Runtime` in, an exit status out.

A module of its own so that the command modules (``_commands``, ``_sync``, ``_worker``)
and the entry point share these two names without importing one another.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TextIO

import attrs

from .._client import InsightsClient
from .._events import EventHook
from ._client import ClientOptions, open_client

__all__ = ["Command", "Runtime"]


@attrs.frozen
class Runtime:
    """What a command may use besides its arguments: streams, environment, client settings."""

    stdout: TextIO
    stderr: TextIO
    environ: Mapping[str, str]
    client_options: ClientOptions
    quiet: bool = False

    def client(
        self, hooks: Sequence[EventHook] = ()
    ) -> AbstractAsyncContextManager[InsightsClient]:
        """The command's client (see :func:`open_client`)."""
        return open_client(self.client_options, environ=self.environ, hooks=hooks)


#: A command: arguments and runtime in, exit status out.
Command = Callable[[argparse.Namespace, Runtime], Awaitable[int]]
