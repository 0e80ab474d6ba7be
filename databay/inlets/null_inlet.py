"""NullInlet: an inlet that produces nothing."""

from __future__ import annotations

from ..inlet import Inlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List

    from ..update import Update

__all__ = ["NullInlet"]


class NullInlet(Inlet):
    """Produces no records; a placeholder while wiring links and planners.

    Args:
        metadata: global metadata, as for every :class:`~databay.inlet.Inlet`.
    """

    def pull(self, update: Update) -> List[object]:
        """Return ``[]``, which produces no records."""
        return []
