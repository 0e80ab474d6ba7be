"""The end of a planner's run: wait for transfers, deliver Buffers, stop nodes, report.

Waiting ends when every transfer finished, at the real-time deadline given to
``shutdown(timeout=...)``, or when a second signal asks to hurry. Links whose
transfer is still running then are *left behind*: their Buffers are not
flushed (the running transfer still uses them) and their nodes keep running
until it returns; the planner logs them with the records their Buffers hold,
so nothing in memory is lost without being counted, and it is back to idle
(startable again) either way.
"""

from __future__ import annotations

from .._log import get_logger, info_may_show
from .._transfer import is_flushable
from ._run import failed, guarded, start_link

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List

_LOGGER = get_logger("databay.BasePlanner")


def held_records(link: Any) -> int:
    """How many records the flushable processors (Buffers) of ``link`` hold now."""
    processors = list(link.processors) + [p for outlet in link.outlets for p in outlet.processors]
    return sum(len(getattr(p, "records", None) or ()) for p in processors if is_flushable(p))


def teardown(planner: Any) -> None:
    """Finish a planner whose state is STOPPING and set it back to IDLE."""
    from ..base_planner import IDLE
    from ..link import flush_links, shutdown_links

    left: List[Any] = []
    try:
        left = planner._gate.wait_idle(None, planner._deadline, give_up=lambda: planner._hurry)
        planner.left_behind = left
        with planner._lock:  # an add_links() starting nodes right now: its links are stopped too
            planner._added.wait_for(lambda: not planner._adding)
            links = list(planner._links)
            if left:
                skip = set(left)
                links = [link for link in links if link not in skip]
        try:
            flush_links(links, lambda link, error: failed(planner, "flush", link, error))
        finally:  # an interrupt (KeyboardInterrupt, SystemExit) in a flush still stops every node
            # its links report to its hub: whether anyone listens is read once, not per link and node
            shutdown_links(links, lambda link, error: failed(planner, "on_shutdown", link, error),
                           listened=planner._observe.events.active)
        if left:
            _LOGGER.error("Shut down %r leaving %d link(s) behind, their transfer still running: %s; "
                          "their Buffers hold %d record(s) not delivered",
                          planner, len(left), ", ".join(repr(link) for link in left),
                          sum(held_records(link) for link in left))
    finally:
        planner._planner_stopped()
        planner._repeats.flush()
        with planner._lock:
            planner.left_behind = left
            planner._state = IDLE
            planner._start_thread = None
    if info_may_show():
        _LOGGER.info("Shut down %r", planner)


def transfer_once(planner: Any, link: Any) -> None:
    """``force_transfer()`` on a planner never started (its gate held open): start, transfer,
    flush, stop."""
    start_link(planner, link)
    try:
        planner._run_transfer(link)
        error = planner._error
        planner._error = None
        guarded(planner, "flush", link, link.flush, record=False)
    finally:
        guarded(planner, "on_shutdown", link, link.on_shutdown, record=False)
    if error is not None:
        raise error
