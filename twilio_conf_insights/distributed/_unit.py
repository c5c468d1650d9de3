"""One unit of work run where it was delivered, and what it reports back."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import cattrs

from ..sync._engine import SyncRun
from ..sync._store import Store
from ..sync._units import WorkUnit
from ..sync._writer import BatchWriter

if TYPE_CHECKING:
    from .._client import InsightsClient

__all__ = ["UnitOutcome", "run_unit"]

_converter = cattrs.Converter()

#: Records a unit gathers before a write (at least; fewer at its end). A unit is run again in
#: full when its worker dies, so holding them loses nothing, and a window of a few dozen
#: conferences commits in one transaction rather than one per conference: with a fleet of
#: workers on one PostgreSQL, those round trips were most of a unit's cost.
UNIT_BATCH = 100


@attrs.frozen
class UnitOutcome:
    """What one unit changed; crosses the queue as JSON."""

    new: int = 0
    updated: int = 0
    settled: int = 0
    unsettled: int = 0
    participants: int = 0
    conferences: int = 0
    skipped: int = 0
    #: 1 when the window was listed completely, and whether it is now closed.
    windows: int = 0
    windows_closed: int = 0
    #: One line per failure (a re-run picks the unit up again).
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        data: dict[str, Any] = _converter.unstructure(self)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> UnitOutcome:
        """The inverse of :meth:`to_dict`."""
        return _converter.structure(data, cls)


async def run_unit(
    client: InsightsClient, store: Store, unit: WorkUnit, *, now: datetime, refresh: bool
) -> UnitOutcome:
    """Sync one window, exactly as a single-process sync would, and say what changed."""
    run = SyncRun(client, store, now, refresh, writer=BatchWriter(store, min_batch=UNIT_BATCH))
    writer = run.writer
    failure: list[str] = []
    try:
        await run.unit(unit)
        await writer.flush()
    except Exception as error:  # reported to the waiting sync, which tells the user
        failure.append(f"{type(error).__name__}: {error}")
    finally:
        await writer.aclose()
    return UnitOutcome(
        **run.totals(),
        errors=(*(f"{type(e).__name__}: {e}" for e in run.errors), *failure),
    )
