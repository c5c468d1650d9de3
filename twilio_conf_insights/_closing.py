"""``async with`` for objects that own a resource closed by ``aclose()``."""

from __future__ import annotations

from types import TracebackType

__all__ = ["ClosedOnExit"]


class ClosedOnExit:
    """Leaving ``async with obj`` awaits ``obj.aclose()``, whatever happened inside."""

    async def aclose(self) -> None:
        """Release what the object holds. Idempotent."""
        raise NotImplementedError

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
