"""Running nodes the way databay does: pulls through a Link, pushes with or without one."""

from __future__ import annotations

import asyncio
import inspect

from databay import Inlet, Link, Outlet, Record, Update

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Awaitable, List


class CollectingOutlet(Outlet):
    """An outlet that keeps every batch pushed to it, with its update."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: List[List[Record]] = []
        self.updates: List[Update] = []

    def push(self, records: List[Record], update: Update) -> None:
        self.batches.append(list(records))
        self.updates.append(update)


class FeedInlet(Inlet):
    """An inlet whose pull returns ``self.result`` (set it before each transfer)."""

    def __init__(self, result: Any = None) -> None:
        super().__init__()
        self.result = result

    def pull(self, update: Update) -> Any:
        return self.result


def pull_records(inlet: Inlet, *, transfers: int = 1) -> List[Record]:
    """Pull ``inlet`` through a Link and return the records an outlet received.

    Builds ``Link(inlet, outlet, interval=1, tags='databay_testing',
    copy_records=False)`` with a collecting outlet, starts it (``on_start``),
    runs ``transfers`` transfers and shuts it down again (``on_shutdown``),
    so ``def`` and ``async def`` pulls are run exactly as a planner runs them.
    An inlet that was already active is left active. Records are returned
    in order, all transfers together; exceptions from the inlet propagate.
    """
    outlet = CollectingOutlet()
    link = Link(inlet, outlet, interval=1, tags="databay_testing", copy_records=False)
    link.on_start()  # reference-counted: an inlet that was already active stays active
    try:
        for _ in range(transfers):
            link.transfer()
    finally:
        link.on_shutdown()
    return [record for batch in outlet.batches for record in batch]


class Pusher:
    """Calls ``outlet.push`` directly; awaits coroutine pushes on one reused event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def push(self, outlet: Outlet, records: List[Record], update: Update) -> Any:
        result = outlet.push(records, update)
        if inspect.isawaitable(result):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            result = self._loop.run_until_complete(_wait(result))
        return result

    def close(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()


async def _wait(awaitable: Awaitable) -> Any:
    return await awaitable
