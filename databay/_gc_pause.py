"""Pausing the cyclic garbage collector while many objects that form no cycle are built.

Building 10,000 links (``add_links``) or 2,000 link snapshots (``planner.stats()``) makes
enough new container objects to trigger collections that scan the whole heap again and
again; none of those objects can be freed by them, so the pause only saves time.
"""

from __future__ import annotations

from _thread import allocate_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class GcPause:
    """``with GC_PAUSE:`` pauses the cyclic garbage collector, if it runs, for the block.

    Nested and concurrent blocks (several threads building at once) resume it
    only when the last one ends, and only if it was running when the first began.
    """

    def __init__(self) -> None:
        self.lock = allocate_lock()
        self.depth = 0
        self.resume = False

    def __enter__(self) -> None:
        import gc

        with self.lock:
            if self.depth == 0:
                self.resume = gc.isenabled()
                gc.disable()
            self.depth += 1

    def __exit__(self, *exc_info: Any) -> None:
        import gc

        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.resume:
                gc.enable()


GC_PAUSE = GcPause()
