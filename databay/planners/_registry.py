"""A planner's links: adding and removing them, also while it runs.

A Link belongs to at most one planner (``link._planner``; one process-wide lock
makes the check and the claim one step). Adding while running starts the new
links' nodes first, outside the planner's lock; a teardown that begins
meanwhile waits for that ``add_links`` and stops its links too. Removing while
running waits for the link's running transfer (or, from inside it, defers to
its end), then flushes its Buffers and releases its nodes. Both are linear in
the number of links given: one pass, one lock, no per-link search.
"""

from __future__ import annotations

import threading

from .._gc_pause import GC_PAUSE
from .._log import get_logger, info_may_show
from .._validation import to_list
from ..errors import MissingLinkError
from ._run import guarded, start_link

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List, Optional

_LOGGER = get_logger("databay.BasePlanner")
_OWNERSHIP = threading.Lock()  # a link joins at most one planner


def add_links(planner: Any, links: Any) -> None:
    """``BasePlanner.add_links``: claim, start (while running), register and schedule ``links``."""
    from ..base_planner import RUNNING, STARTING
    from ..link import Link

    new = to_list(links)
    with _OWNERSHIP:
        for link in new:
            if not isinstance(link, Link):
                raise TypeError("links=%r: %r is not an instance of Link" % (links, link))
            owner = link._planner
            if owner is not None:
                if owner is planner:
                    raise ValueError("links=%r: %r was already added to this planner" % (links, link))
                raise ValueError("links=%r: %r already belongs to %r; a Link can be in one planner "
                                 "at a time (remove it there first)" % (links, link, owner))
        if len(set(map(id, new))) != len(new):
            twice = next(link for index, link in enumerate(new) if any(
                other is link for other in new[:index]))
            raise ValueError("links=%r: %r was already added to this planner" % (links, twice))
        for link in new:
            link._planner = planner
    with planner._lock:
        running = planner._state in (STARTING, RUNNING)
        if running:
            planner._adding.append(threading.get_ident())
    started: List[Any] = []
    scheduled = 0  # the first links of ``new`` that ``_schedule`` took
    registered = False
    try:
        for link in new if running else ():
            start_link(planner, link)
            started.append(link)
        # The collector paused: each link gets a job (and maybe more) that lives as long as the link,
        # so collections meanwhile would scan thousands of new objects, again and again, to free
        # nothing (10,000 links: a dozen young collections, and the full one they lead to).
        with GC_PAUSE, planner._lock:
            timeout, schedule = planner._timeout, planner._schedule
            planner._gate.add_many(new)
            planner._links.update(dict.fromkeys(new))
            registered = True
            planner._observe.links_added(new)
            for link in new:
                link._default_timeout = timeout
                schedule(link)
                scheduled += 1
    except BaseException:
        if registered:  # e.g. a schedule refused to bind: none of ``new`` stays, not even on a timeline
            _forget(planner, new, new[:scheduled])
        for link in new:
            link._planner = None
        for link in started:
            guarded(planner, "on_shutdown", link, link.on_shutdown, record=False)
        raise
    finally:
        if running:  # a teardown waiting for this now sees these links and stops them
            with planner._lock:
                planner._adding.remove(threading.get_ident())
                planner._added.notify_all()
    if not info_may_show():
        return
    if len(new) <= 10:
        for link in new:
            _LOGGER.info("Added link: %r", link)
    else:
        _LOGGER.info("Added %d links to %r", len(new), planner)


def _forget(planner: Any, links: List[Any], scheduled: List[Any]) -> None:
    """Undo a failed ``add_links``: take ``links`` off the planner's timeline, registry and gate."""
    with planner._lock:
        for link in scheduled:
            planner._unschedule(link)
        for link in links:
            del planner._links[link]
            planner._gate.remove(link)
            planner._observe.link_removed(link)


def remove_links(planner: Any, links: Any) -> None:
    """``BasePlanner.remove_links``: unschedule and forget ``links``; retire them while running."""
    from ..base_planner import IDLE

    gone = to_list(links)
    with planner._lock:
        registry = planner._links
        for link in gone:
            if link not in registry:
                raise MissingLinkError("Planner does not contain the link: %r" % (link,))
        unschedule, forget, removed = planner._unschedule, planner._gate.remove, \
            planner._observe.link_removed
        for link in gone:
            unschedule(link)
            del registry[link]
            link._planner = None
            forget(link)
            removed(link)
        running = planner._state != IDLE
    if not running:
        return
    inside = planner._links_running_here()
    planner._gate.wait_idle([link for link in gone if link not in inside], None)
    errors = [retire(planner, link, record=False) for link in gone if not (
        link in inside and planner._gate.defer(link, lambda done=link: retire(planner, done, False)))]
    failures = [error for error in errors if error is not None]
    if failures and not planner._ignore_exceptions:
        raise failures[0]  # every link was retired; this reports the first failure


def retire(planner: Any, link: Any, record: bool = True) -> Optional[Exception]:
    """Deliver what ``link``'s Buffers hold and release its nodes; returns the first error."""
    errors = [guarded(planner, "flush", link, link.flush, record),
              guarded(planner, "on_shutdown", link, link.on_shutdown, record)]
    return next((error for error in errors if error is not None), None)
