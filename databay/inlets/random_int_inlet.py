"""RandomIntInlet: one random integer per transfer."""

from __future__ import annotations

from ..inlet import Inlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Optional

    from ..update import Update

__all__ = ["RandomIntInlet"]


class RandomIntInlet(Inlet):
    """Produces one record per transfer: a random int ``min <= n <= max``.

    ``str(inlet)`` (each record's ``'__inlet__'``) is 0.3.0's
    ``RandomIntInlet(metadata={...})``, so inlets with different metadata
    stay distinguishable and routes written for 0.3.0 keep matching.

    Args:
        min: lower bound, inclusive (default 0).
        max: upper bound, inclusive (default 100).
        metadata: global metadata, as for every :class:`~databay.inlet.Inlet`.

    Raises:
        TypeError: ``min`` or ``max`` is not an int.
        ValueError: ``min`` > ``max``.
    """

    def __init__(self, min: int = 0, max: int = 100, metadata: Optional[Mapping] = None) -> None:
        for name, value in (("min", min), ("max", max)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("%s=%r must be an int" % (name, value))
        if min > max:
            raise ValueError("min=%r must be <= max=%r" % (min, max))
        super().__init__(metadata)
        self.min = min
        self.max = max

    def pull(self, update: Update) -> int:
        """Return a random int between ``min`` and ``max`` inclusive."""
        import random  # imported on first pull: importing databay.inlets stays cheap

        return random.randint(self.min, self.max)
