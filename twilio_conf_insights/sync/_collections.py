"""A sync's full cycle collections examine what the sync allocated, not the whole process.

Python's cycle collector now and then runs a full collection, which examines every tracked
object of the process while holding the GIL: with the SDK and its dependencies imported,
about 45,000 objects, 15 ms of CPU on a busy 2-core machine, during which the event loop
runs nothing. A sync allocates many short-lived objects (pages of JSON), so one or two
full collections fall inside it, and they were the worst stalls of its loop (W6 in
``benchmarks/README.md``).

While at least one sync runs, :func:`sync_collections` moves the objects that existed
when the first one started to the permanent generation (:func:`gc.freeze`): a full
collection then examines only what was allocated since. When the last sync ends they are
moved back (:func:`gc.unfreeze`), and cycles among them are collected as before; nothing
else changes (thresholds, young collections). Two cases are left alone: a process that
froze objects itself before the sync started (a server that freezes after forking keeps
its own policy: no freeze, no unfreeze), and one with the collector disabled.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["sync_collections"]

# Some interpreters start with objects frozen already (375 on CPython 3.12.1): those count
# as the interpreter's, not as a host's policy. What was frozen before this module was
# imported is taken for them.
_FROZEN_AT_IMPORT = gc.get_freeze_count()
_lock = threading.Lock()
_running = 0
_froze = False


@contextlib.contextmanager
def sync_collections() -> Iterator[None]:
    """For the time of one sync: older objects set aside from full collections (see above)."""
    global _running, _froze
    with _lock:
        if _running == 0:
            _froze = gc.isenabled() and gc.get_freeze_count() <= _FROZEN_AT_IMPORT
            if _froze:
                gc.freeze()
        _running += 1
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0 and _froze:
                _froze = False
                gc.unfreeze()
