"""NullOutlet: an outlet that discards records."""

from __future__ import annotations

from ..outlet import Outlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List

    from ..record import Record
    from ..update import Update

__all__ = ["NullOutlet"]


class NullOutlet(Outlet):
    """Discards every record; a placeholder while wiring links and planners.

    Args:
        processors: outlet processors, as for every :class:`~databay.outlet.Outlet`.
    """

    def push(self, records: List[Record], update: Update) -> None:
        """Do nothing."""
