"""Catch a database connection left for the garbage collector, on every Python version.

Python 3.13 warns (``ResourceWarning: unclosed database``) when a collected SQLite
connection was never closed; earlier versions close it silently whenever the collector
runs, so a leak goes unseen there. With the collector held off, a leaked connection keeps
its file open: :func:`open_under` sees it on any version.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def open_under(directory: Path) -> list[str]:
    """Files under ``directory`` this process holds open."""
    names = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(directory)):
                names.append(target)
    return names


@contextlib.contextmanager
def collector_held() -> Iterator[list[Any]]:
    """Garbage collection off; what would be reported as unraisable, collected."""
    unraisable: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    gc.disable()
    try:
        yield unraisable
    finally:
        gc.enable()
        sys.unraisablehook = previous
