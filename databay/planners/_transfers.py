"""Running one transfer of a planner's link: claim it at the gate, run it, report how it ended.

``TransferRunner`` is the part of ``BasePlanner`` that runs transfers. A
scheduler calls ``_run_transfer(link)`` when a link is due (or claims it with
``gate.queue`` and hands ``_run_queued`` to a worker). ``_run_queued`` is the
one place a transfer starts, ends or fails, and ``_skipped`` the one place a
due transfer is skipped: events and counters hang off them.
"""

from __future__ import annotations

import contextvars

from ._run import stop_on, transfer_failed

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional

    from ..link import Link

WARNING = 30  # logging.WARNING, without importing logging
# (planner, link) pairs whose transfer the current context runs (copied onto the threads and
# tasks of that transfer), so shutdown()/remove_links() from inside a transfer never wait for it.
_RUNNING_TRANSFERS: contextvars.ContextVar = contextvars.ContextVar("databay_transfers", default=())


class TransferRunner:
    """Runs one transfer of a link through the planner's transfer gate (``planners/_gate.py``)."""

    _gate: Any
    _repeats: Any

    def _run_transfer(self, link: Link, lateness: Optional[float] = None) -> bool:
        """Run one transfer of ``link`` now unless it is busy or shutdown began; whether it ran.

        ``lateness``: how late a scheduled transfer starts, in seconds (for stats).
        """
        ticket = self._gate.queue(link)
        if ticket <= 0:
            if ticket < 0:
                self._skipped(link)
            return False
        return self._run_queued(link, ticket, lateness)

    def _run_queued(self, link: Link, ticket: int, lateness: Optional[float] = None) -> bool:
        """Run the transfer ``ticket`` claimed (see ``TransferGate.queue``), if still allowed.

        The one place a transfer starts, ends or fails (events and counters hang off it).
        """
        if not self._gate.begin(link, ticket):
            return False
        token = _RUNNING_TRANSFERS.set(_RUNNING_TRANSFERS.get() + ((self, link),))
        start = link._stats.started(lateness)
        try:
            link.transfer()
            link._stats.ended(start)
        except Exception as error:  # noqa: BLE001 - reported, and maybe stops the planner
            link._stats.ended(start, error)
            self._on_exception(error, link)
        except BaseException as error:  # SystemExit & co.: stop, whatever ignore_exceptions says
            link._stats.ended(start, error)
            stop_on(self, error, "%r escaped a transfer of %r; shutting down", error, link)
        finally:
            _RUNNING_TRANSFERS.reset(token)
            deferred = self._gate.end(link)
            if deferred is not None:  # remove_links() was called from inside this transfer
                deferred()
        return True

    def _skipped(self, link: Link) -> None:
        """A due transfer of ``link`` did not start: its previous one is still queued or running."""
        link._stats.was_skipped()
        # One key for the planner: a thousand busy links give one line and a summary a minute.
        self._repeats.log("skipped", WARNING, "Skipped a transfer: the previous one of that link "
                          "is still running", (), "(%r)", (link,))

    def _on_exception(self, error: BaseException, link: Optional[Link] = None) -> None:
        """An exception escaped ``link``'s transfer: log it; without ``ignore_exceptions``, stop."""
        transfer_failed(self, error, link)

    def _links_running_here(self) -> List[Link]:
        """The links of this planner whose transfer the calling thread or task is running."""
        return [link for planner, link in _RUNNING_TRANSFERS.get() if planner is self]
