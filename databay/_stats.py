"""Counters behind ``link.stats()`` and ``planner.stats()``: cheap to bump, plain to read.

Every link owns one :class:`LinkStats`. Two kinds of code write to it:

* the transfer itself (``Link.transfer()``, also when called directly) only
  *counts*: transfers, records pulled, records handed to outlets, batches,
  node failures. A handful of integer additions on ``__slots__`` attributes, no
  clock reads, no locks: W1 (µs per ``link.transfer()``) pays almost nothing.
* a planner running a transfer also *times* it (:meth:`LinkStats.started` /
  :meth:`LinkStats.ended`): start, duration, lateness against the due time,
  last success, and the recent windows behind the p50/p99/max summaries and
  the status page's sparklines. Dispatching a transfer costs far more than
  these two clock readings.

A planner-run transfer also times each node call (:meth:`LinkStats.timer`,
:func:`timed_steps`): the pipeline checks one flag per transfer, so a direct
``link.transfer()`` still reads no clock.

Per-node counters are derived, not bumped: an inlet is called once per
transfer, an outlet once per batch, so a node's calls and records are the
link's counters since the node was attached, less what failed (counted on the
failure path). A planner never runs two transfers of one link at once, so the
only writer of a link's counters is its running transfer; counters of a link
whose ``transfer()`` is called from several threads at once may lose counts.

Snapshots are plain dicts of numbers, strings, lists, tuples (the recent
series, see :class:`Series`) and None, ready for ``json.dumps``, and
read-only: a link that did not change since its last snapshot gives that
same dict again (see :meth:`LinkStats.snapshot`).
Times on the hot path are ``time.perf_counter()`` readings; snapshots turn
them into seconds since the epoch.
"""

from __future__ import annotations

from _thread import allocate_lock
from bisect import bisect_left, insort
from itertools import count
from time import monotonic, perf_counter
from time import time as wall_time

from ._coroutines import is_awaitable
from ._gc_pause import GC_PAUSE
from ._validation import short_repr
from .errors import RejectedRecords

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

#: How many recent timed transfers the p50/p99/max summaries and sparklines cover.
WINDOW = 64

_EVENT_KINDS = frozenset(("transfer_skipped", "transfer_missed", "records_retried", "records_dropped",
                          "records_dead_lettered"))

#: Health of a link, best first (see :meth:`LinkStats.health`).
HEALTH = ("ok", "idle", "warning", "failing")


class NodeStats:
    """What one link saw of one of its inlets or outlets since the node was attached.

    ``*_base`` are the link's counters at attach time; the failure counters
    and the ``extra_*`` ones (outlet calls outside the batch path: flushes,
    redeliveries) are bumped directly, off the hot path.
    """

    __slots__ = ("node", "role", "run_base", "batches_base", "handed_base", "failures",
                 "failed_records", "extra_calls", "extra_records", "seconds", "timed_calls")

    def __init__(self, node: Any, role: str, run_base: int, batches_base: int, handed_base: int) -> None:
        self.node = node
        self.role = role  # "inlet" or "outlet"
        self.run_base = run_base
        self.batches_base = batches_base
        self.handed_base = handed_base
        self.failures = 0
        self.failed_records = 0  # records handed to this outlet in pushes that failed
        self.extra_calls = 0
        self.extra_records = 0
        self.seconds = 0.0  # time spent in the node's calls during planner-run transfers
        self.timed_calls = 0  # those calls

    def calls(self, stats: LinkStats) -> int:
        if self.role == "inlet":
            return stats.run - self.run_base
        return stats.batches - self.batches_base + self.extra_calls

    def records(self, stats: LinkStats) -> int:
        """Outlets: records delivered (pushes that succeeded)."""
        return stats.handed - self.handed_base - self.failed_records + self.extra_records


class Series:
    """The last :data:`WINDOW` values of a series, oldest first, and the tuple a snapshot shows of them.

    A snapshot's ``recent`` section shows a link's series as tuples: nothing
    a caller can edit reaches the link, and a reader on another thread sees
    one consistent series. ``recent`` is that tuple, made by :meth:`add` when
    a snapshot showed the series since the previous value (``watched``), so
    the next snapshot holds it as it is; otherwise None, and a snapshot makes
    its own (:meth:`LinkStats.snapshot`). Made on every value, the tuple would cost
    each transfer 64 reference-count writes into float objects gone cold
    since the link's last transfer (callgrind, 500 links round-robin: +10 %
    instructions and +60 cache misses per planner-run transfer); made only
    while someone watches, it costs a link nobody watches nothing, and a
    watched one no copy in stats().

    ``kept_recent`` is the tuple before ``recent``, held one value longer: the
    snapshot a ``stats()`` call replaces usually shows it, and if the series
    had let go of it, that call would free it (reading the floats in it, in
    memory gone cold since: thousands of links). The next value frees it
    here instead.
    """

    __slots__ = ("values", "recent", "kept_recent", "watched")

    def __init__(self) -> None:
        self.values: List[Any] = []  # oldest first
        self.recent: Optional[Tuple[Any, ...]] = ()  # see above
        self.kept_recent: Optional[Tuple[Any, ...]] = None
        self.watched = False

    def add(self, value: Any) -> None:
        values = self.values
        if len(values) == WINDOW:
            del values[0]
        values.append(value)
        recent = self.recent
        if self.watched:
            self.watched = False
            self.kept_recent = recent
            self.recent = tuple(values)
        elif recent is not None:
            self.kept_recent = recent
            self.recent = None


class Window(Series):
    """A :class:`Series` of numbers, also sorted, and the summary a snapshot shows.

    Kept sorted as values arrive (a bisect per value, on the planner's timing
    path), so the p50/p99/max summary is read off, never sorted for. ``shown``
    is that summary as a snapshot's ``lateness_seconds`` / ``duration_seconds``
    section: built by :meth:`add` (cheaper than the tuple and two
    :func:`percentile` calls it replaces), replaced whole, never changed after,
    so snapshots hand it out as it is and a reader on another thread sees one
    consistent dict. None until the first value (a snapshot builds that one).
    ``kept`` is the summary before, held one value longer for the reason a
    series holds ``kept_recent``.
    """

    __slots__ = ("ordered", "count", "total", "shown", "kept")

    def __init__(self) -> None:
        Series.__init__(self)
        self.ordered: List[float] = []
        self.count = 0  # values ever added
        self.total = 0.0  # their sum
        self.shown: Optional[Dict[str, Any]] = None
        self.kept: Optional[Dict[str, Any]] = None  # see above

    def add(self, value: float) -> None:
        ordered = self.ordered
        values = self.values
        if len(values) == WINDOW:  # the oldest value leaves the window
            del ordered[bisect_left(ordered, values[0])]
            del values[0]
        values.append(value)
        recent = self.recent  # Series.add from here, inlined (a call: ~500 instructions per value)
        if self.watched:
            self.watched = False
            self.kept_recent = recent
            self.recent = tuple(values)
        elif recent is not None:
            self.kept_recent = recent
            self.recent = None
        insort(ordered, value)
        self.count = count = self.count + 1
        self.total = total = self.total + value
        size = len(values)
        low, high, part, low99, high99, part99 = _SPOTS[size]  # percentile(ordered, 0.5 / 0.99), inlined
        middle, top = ordered[low], ordered[low99]
        self.kept = self.shown
        self.shown = {"p50": middle + (ordered[high] - middle) * part,
                      "p99": top + (ordered[high99] - top) * part99,
                      "max": ordered[-1], "window": size, "count": count, "sum": total}


def _spots(size: int, q: float) -> Tuple[int, int, float]:
    """Where :func:`percentile` reads the ``q`` percentile of ``size`` sorted values: low, high, fraction."""
    position = (size - 1) * q
    low = int(position)
    return low, min(low + 1, size - 1), position - low


#: :func:`_spots` of p50 and p99 for each window size (index 0 unused).
_SPOTS = [(0, 0, 0.0, 0, 0, 0.0)] + [_spots(size, 0.5) + _spots(size, 0.99) for size in range(1, WINDOW + 1)]


def _nothing_shown() -> Dict[str, Any]:
    """A snapshot's summary section of a window that has no values yet."""
    return {"p50": None, "p99": None, "max": None, "window": 0, "count": 0, "sum": 0.0}


class Timing:
    """What planners measured of one link's transfers: start, durations, lateness, last success.

    A link gets one at its first planner-run transfer (:meth:`LinkStats.started`),
    so building a link, or a planner of thousands of links, creates no windows.
    How many transfers were timed, and their total duration and lateness, are
    the windows' ``count`` and ``total``.
    """

    __slots__ = ("start", "pulled_at_start", "durations", "records", "last_duration", "lateness",
                 "last_success")

    def __init__(self) -> None:
        self.start = 0.0  # perf_counter() when the last planner-run transfer started
        self.pulled_at_start = 0
        self.durations = Window()  # seconds, of every planner-run transfer that ended
        self.records = Series()  # records pulled per timed transfer
        self.last_duration = 0.0
        self.lateness = Window()  # seconds after the due time
        self.last_success: Optional[float] = None


#: What a snapshot shows of a link no planner has timed yet.
_NOT_TIMED = Timing()

#: ``LinkStats.nodes`` of a link that has no per-node counters yet: shared, never written
#: (see :meth:`LinkStats.keep`). 10,000 links built at once then make no dict each.
_NO_NODES: Dict[int, NodeStats] = {}
_NODES_MAKING = allocate_lock()


class LinkStats:
    """The counters of one link; see the module docstring for who writes what.

    Cheap to build (a link is built in microseconds): the timing windows wait
    for the first planner-run transfer (:class:`Timing`), the per-node counters
    for the first count that needs them (see :meth:`nodes_changed`).
    """

    __slots__ = (
        # counted by every transfer (the hot path: Link._run and the pipeline)
        "run", "pulled", "batches", "handed", "failed", "error_run",
        # timed by planners
        "running", "timing", "failing_since",
        # rarer events
        "skipped", "missed", "last_error", "last_warning",
        # bookkeeping
        "changes", "counted", "cache", "link", "hub", "clock", "nodes", "attached_inlets", "attached_outlets",
        "named")

    def __init__(self, link: Any) -> None:
        self.run = 0  # transfers started
        self.pulled = 0  # records the inlets returned
        self.batches = 0  # batches pushed to the outlets (each outlet is called once per batch)
        self.handed = 0  # records in those batches (each outlet got them all)
        self.failed = 0  # transfers in which a node failed (raised or ignored)
        self.error_run = 0  # ``run`` of the last transfer in which a node failed
        self.running = False  # a planner-run transfer is in progress
        self.timing = _NOT_TIMED  # replaced by this link's own Timing at its first timed transfer
        self.failing_since: Optional[float] = None  # first failure of the current streak
        self.skipped = 0  # due transfers not run: the previous one was still running or queued
        self.missed = 0  # due transfers coalesced into a later one after a stall
        self.last_error: Optional[Tuple[str, str, str, float]] = None  # type, message, node, time
        self.last_warning: Optional[Tuple[str, float]] = None  # event kind, time
        self.changes = 0  # a new, never reused value after every write off the hot path (see snapshot)
        self.counted = 0  # the same, after every such write but started's and ended's (see snapshot)
        self.cache: Any = None  # the last snapshot and what it was made of: see snapshot
        self.link = link
        self.hub: Any = None  # the planner's EventHub while a planner holds the link
        self.clock: Callable[[], float] = monotonic  # the holding planner's clock.now (retry queues)
        # id(node) -> stats, made as needed (see counts_of): the shared empty _NO_NODES until then
        self.nodes: Dict[int, NodeStats] = _NO_NODES
        # The node lists whose counters start at zero, made on first need (see nodes_changed); None
        # once counters are made for every node. Two slots, not a tuple: one object less per link.
        self.attached_inlets: Optional[Sequence[Any]] = link._inlets
        self.attached_outlets: Optional[Sequence[Any]] = link._outlets
        self.named: Any = None  # (inlets, outlets, inlet pairs, outlet pairs): see _name_nodes

    # -- timing, by planners -----------------------------------------------

    def started(self, lateness: Optional[float] = None) -> float:
        """A planner starts a transfer, ``lateness`` seconds after it was due (None: on demand)."""
        timing = self.timing
        if timing is _NOT_TIMED:
            timing = self.timing = Timing()
        if lateness is not None:
            timing.lateness.add(lateness)
        timing.pulled_at_start = self.pulled
        self.running = True
        timing.start = start = perf_counter()
        self.changes = _next_change()  # after the writes it announces, in every writer (see snapshot)
        hub = self.hub
        if hub is not None and hub.active:
            hub.emit("transfer_started", self.link, lateness=lateness)
        return start

    def ended(self, start: float, error: Optional[BaseException] = None) -> None:
        """The planner-run transfer that began at ``start`` ended; ``error`` if it raised."""
        now = perf_counter()
        timing = self.timing
        timing.last_duration = duration = now - start
        records = self.pulled - timing.pulled_at_start
        timing.durations.add(duration)
        timing.records.add(records)
        self.running = False
        failed = error is not None or self.error_run == self.run
        if error is not None:
            self.transfer_raised(error, now)
        if failed:
            if self.failing_since is None:
                self.failing_since = now
        else:
            timing.last_success = now
            self.failing_since = None
        self.changes = _next_change()
        hub = self.hub
        if hub is not None and hub.active:
            hub.emit("transfer_failed" if failed else "transfer_finished", self.link, error=error,
                     duration=duration, records=records)

    def counts_of(self, node: Any) -> Optional[NodeStats]:
        """``node``'s counters, or None if this link does not count it (an ``id`` alone could
        belong to a detached node's successor)."""
        nodes = self.nodes
        counts = nodes.get(id(node))
        if counts is not None and counts.node is node:
            return counts
        inlets, outlets = self.attached_inlets, self.attached_outlets
        if inlets is None or outlets is None:
            return None
        for role, group in (("inlet", inlets), ("outlet", outlets)):
            for member in group:
                if member is node:  # attached before anything was counted: every base is zero
                    return self.keep(NodeStats(node, role, 0, 0, 0))
        return None

    def keep(self, counts: NodeStats) -> NodeStats:
        """Keep ``counts`` in ``nodes``, or the counters another thread kept for its node meanwhile
        (a snapshot may make them at the same moment). The first keeps ``nodes`` its own dict:
        until then it is the shared ``_NO_NODES``, so building a link makes no dict for it."""
        nodes = self.nodes
        if nodes is _NO_NODES:
            with _NODES_MAKING:
                nodes = self.nodes
                if nodes is _NO_NODES:
                    nodes = self.nodes = {}
        kept = nodes.setdefault(id(counts.node), counts)
        if kept.node is not counts.node:  # a detached node's, whose id the new node now has
            kept = nodes[id(counts.node)] = counts
        return kept

    def timer(self, node: Any, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` (a call of ``node``) wrapped to add its duration to ``node``'s time spent.

        Only planner-run transfers are timed (``running``): a direct
        ``link.transfer()`` reads no clock. A node this link does not count
        (a dead-letter outlet) gets ``function`` back unchanged.
        """
        if self.counts_of(node) is None:
            return function

        def timed_call(*args: Any) -> Any:
            return self.call_timed(node, function, *args)

        return timed_call

    def call_timed(self, node: Any, function: Callable[..., Any], *args: Any) -> Any:
        """``timer(node, function)(*args)`` without making the wrapper: a planner's plain
        transfer (``_transfer.transfer_plain``) times its pull and its push this way."""
        counts = self.nodes.get(id(node))  # counts_of's first test, without its call
        if counts is None or counts.node is not node:
            counts = self.counts_of(node)
            if counts is None:
                return function(*args)
        start = perf_counter()
        try:
            return function(*args)
        finally:
            counts.seconds += perf_counter() - start
            counts.timed_calls += 1
            self.changes = self.counted = _next_change()

    def timer_async(self, node: Any, function: Callable[..., Any]) -> Callable[..., Any]:
        """As :meth:`timer`, for a call whose result is awaited (an ``async def`` node)."""
        counts = self.counts_of(node)
        if counts is None:
            return function

        async def timed_call(*args: Any) -> Any:
            start = perf_counter()
            try:
                value = function(*args)
                if is_awaitable(value):
                    value = await value
                return value
            finally:
                counts.seconds += perf_counter() - start
                counts.timed_calls += 1
                self.changes = self.counted = _next_change()

        return timed_call

    # -- failures and warnings (off the hot path) --------------------------

    def transfer_raised(self, error: BaseException, now: Optional[float] = None) -> None:
        """The running transfer raised ``error`` (Link._run calls this for every transfer)."""
        if self.error_run != self.run:
            self.error_run = self.run
            self.failed += 1
        last = self.last_error
        if last is None or last[3] < self.timing.start or last[1] != _message(error):
            self.last_error = (type(error).__name__, _message(error), "",
                               perf_counter() if now is None else now)
        self.changes = self.counted = _next_change()

    def node_failed(self, kind: str, node: Any, error: BaseException, records: int = 0) -> None:
        """``node`` (inlet, processor, grouper or outlet) raised ``error`` in the running transfer.

        ``records``: for an outlet, how many records the failed push held.
        """
        if self.error_run != self.run:
            self.error_run = self.run
            self.failed += 1
        counts = self.counts_of(node)
        if counts is not None:
            counts.failures += 1
            counts.failed_records += records
        self.last_error = (type(error).__name__, _message(error), "%s %s" % (kind, _label(node)),
                           perf_counter())
        self.changes = self.counted = _next_change()

    def push_retrying(self, outlet: Any, error: BaseException) -> None:
        """A push to ``outlet`` raised ``error`` and its records wait in a retry queue.

        The node failed (its ``failures`` and the link's ``last_error`` say so);
        the transfer did not: the queue will deliver, or give up and count it.
        """
        counts = self.counts_of(outlet)
        if counts is not None:
            counts.failures += 1
        self.last_error = (type(error).__name__, _message(error), "outlet %s" % _label(outlet),
                           perf_counter())
        self.changes = self.counted = _next_change()

    def undelivered(self, outlet: Any, count: int, error: Optional[BaseException] = None) -> None:
        """A push of a ``count``-record batch to ``outlet`` failed with ``error`` (batch path only)."""
        counts = self.counts_of(outlet)
        if counts is not None:
            counts.failed_records += count - taken(count, error)
        self.changes = self.counted = _next_change()

    def pushed(self, outlets: Sequence[Any], outcomes: Sequence[Tuple[bool, Any]], count: int,
               partial: bool) -> None:
        """A ``count``-record batch went to ``outlets`` (all of the link's unless ``partial``)."""
        if partial:
            self.flushed(outlets, outcomes, count)
            return
        self.batches += 1
        self.handed += count
        for outlet, (ok, value) in zip(outlets, outcomes):
            if not ok:
                self.undelivered(outlet, count, value)

    def outlet_delivered(self, outlet: Any, count: int) -> None:
        """``outlet`` took ``count`` records outside the batch path (a retry queue's turn)."""
        counts = self.counts_of(outlet)
        if counts is not None:
            counts.extra_calls += 1
            counts.extra_records += count
        self.changes = self.counted = _next_change()

    def flushed(self, outlets: Sequence[Any], outcomes: Sequence[Tuple[bool, Any]], count: int) -> None:
        """A flush pushed ``count`` records to ``outlets`` (not all of the link's: no batch count)."""
        for outlet, (ok, value) in zip(outlets, outcomes):
            counts = self.counts_of(outlet)
            if counts is not None:
                counts.extra_calls += 1
                counts.extra_records += count if ok else taken(count, value)
        self.changes = self.counted = _next_change()

    def records_noted(self, event: str, count: int) -> None:
        """The delivery stages count ``count`` records as ``event`` (refused, retried, dropped...)."""
        if event != "lost" and count:
            self._warn("records_" + event, None, count)

    def records_counted(self) -> None:
        """The link's delivery counts moved (``_transfer.note``, after the write, as every writer)."""
        self.changes = self.counted = _next_change()

    def was_skipped(self) -> None:
        """A due transfer did not run: the previous one was still running or queued."""
        self.skipped += 1
        self._warn("transfer_skipped")

    def was_missed(self, count: int) -> None:
        """``count`` due transfers were coalesced into the next one after a stall."""
        self.missed += count
        self._warn("transfer_missed", records=count)

    def node_changed(self, node: Any, active: bool) -> None:
        """The link started (``active``) or shut down ``node``."""
        hub = self.hub
        if hub is not None and hub.active:
            hub.emit("node_started" if active else "node_shut_down", self.link, node=node)

    def _warn(self, kind: str, node: Any = None, records: Optional[int] = None) -> None:
        self.last_warning = (kind, perf_counter())
        self.changes = self.counted = _next_change()
        hub = self.hub
        if hub is not None and hub.active and kind in _EVENT_KINDS:
            hub.emit(kind, self.link, node=node, records=records)

    # -- the attached nodes ------------------------------------------------

    def nodes_changed(self, inlets: Sequence[Any], outlets: Sequence[Any]) -> None:
        """The link's nodes changed: start counting new ones, forget removed ones.

        While nothing has been counted, a node's counters would start from
        zero: only the attached node lists are noted (``attached_inlets`` and
        ``attached_outlets``; a new LinkStats notes the link's), and
        :meth:`counts_of` makes a node's counters when first asked.
        """
        if not self.nodes and not (self.run or self.batches or self.handed):
            # Link replaces its node lists, never changes them: not copied
            self.attached_inlets, self.attached_outlets = inlets, outlets
            self.changes = self.counted = _next_change()
            return
        run, batches, handed = self.run, self.batches, self.handed
        nodes = {}
        for role, group in (("inlet", inlets), ("outlet", outlets)):
            for node in group:
                counts = self.counts_of(node)
                if counts is None:
                    counts = NodeStats(node, role, run, batches, handed)
                nodes[id(node)] = counts
        self.nodes = nodes
        self.attached_inlets = self.attached_outlets = None
        self.changes = self.counted = _next_change()

    # -- reading -----------------------------------------------------------

    def health(self, now: Optional[float] = None, interval: float = 0.0) -> str:
        """``"failing"``, ``"warning"``, ``"ok"`` or ``"idle"`` (see :data:`HEALTH`).

        ``failing``: the last transfer failed. ``warning``: it succeeded, but in
        the last ``max(60 s, 3 intervals)`` a transfer was skipped or missed, or
        records were refused, retried, dropped or dead-lettered. ``idle``: no
        transfer has run yet.
        """
        now = perf_counter() if now is None else now
        if self.failing_since is not None or (self.run and self.error_run == self.run and
                                              not self.running):
            return "failing"
        warning = self.last_warning
        if warning is not None and now - warning[1] < max(60.0, 3 * interval):
            return "warning"
        return "ok" if self.run else "idle"

    def snapshot(self, link: Any, name: str, next_due: Optional[float] = None,
                 pending: Optional[Dict[int, Tuple[int, Optional[float]]]] = None,
                 now: Optional[float] = None, to_wall: Optional[float] = None) -> Dict[str, Any]:
        """A JSON-ready dict of everything above; ``next_due`` is seconds since the epoch.

        ``pending``: ``id(outlet)`` -> (records queued, age of the oldest) for
        outlets with a non-empty retry queue. ``now`` (perf_counter) and
        ``to_wall`` (its offset to the epoch) let a planner snapshot all its
        links against one instant.

        Written for speed: ``planner.stats()`` of 2,000 links must stay within
        20 ms, also when every link was timed since the previous call. The
        summaries are read, never computed, here (see :class:`Window`), and
        snapshots are read-only, so the previous one (kept in ``cache``) lends
        what did not change:

        * the whole snapshot, the same dict, if nothing changed. What changes a
          snapshot: any counter (the hot-path ones are compared, every other
          write bumps ``changes``), the delivery counts, tags, key, interval,
          name, next due time and health. A running transfer or a non-empty
          retry queue (whose age grows) never gives a snapshot back.
        * its counter sections (``transfers``, ``records``, ``nodes``) if only
          the timing moved: :meth:`started` and :meth:`ended` bump ``changes``,
          every other writer bumps ``counted`` too. Never with a retry queue.
        * ``tags``, ``last_error`` and ``last_warning`` if they did not change.

        Times are shown in Unix time through ``to_wall``; while it stays within
        :data:`_SAME_TIME` of the previous snapshot's, that one is used again,
        so lent times stay exact and agree with the new ones.
        """
        if now is None or to_wall is None:
            now = perf_counter()
            to_wall = wall_time() - now
        # Read before the values the snapshot shows: a write meanwhile is seen next time.
        changes = self.changes
        run, pulled, batches, handed, running = self.run, self.pulled, self.batches, self.handed, self.running
        inlets, outlets = link._inlets, link._outlets
        # the node lists too: replaced (nodes added or removed), maybe behind nodes_changed's back
        token = None if pending else (self.counted, run, pulled, batches, handed, running, inlets, outlets)
        key = link._key  # a class default for most links: read once
        interval = link._interval_seconds
        ident = (name, key, interval, next_due is None)
        tags = link._tags
        last_error, warning = self.last_error, self.last_warning
        cache = self.cache
        retimed = False  # only the planner's timing moved: lend all but the timing sections
        lend = None
        shown_error: Any = _UNSEEN  # the last_error and last_warning dicts (or None), if lent
        shown_warning: Any = _UNSEEN
        if cache is not None:
            seen_changes, seen_token, seen_ident, until, wall, previous, error_seen, warning_seen = cache
            if token is not None and seen_token == token:
                lend = previous
            if -_SAME_TIME < wall - to_wall < _SAME_TIME:
                to_wall = wall  # the same conversion: see above
                if lend is not None and seen_ident == ident and last_error is error_seen and \
                        warning is warning_seen and previous["tags"] == tags:
                    if seen_changes == changes and now < until and (
                            next_due is None or abs(previous["next_due_at"] - next_due) < _SAME_TIME):
                        return previous
                    retimed = True
                else:
                    if last_error is error_seen:
                        shown_error = previous["last_error"]
                    if warning is warning_seen:
                        shown_warning = previous["last_warning"]
        failing_since = self.failing_since
        if failing_since is None and last_error is not None and self.error_run == run and run and \
                not running:  # failed outside a planner: since its last error
            failing_since = last_error[3]
        until = _FOREVER  # when health changes by itself: a warning expires
        if failing_since is not None:
            health = "failing"
        elif warning is not None and now < warning[1] + max(60.0, 3 * interval):
            health = "warning"
            until = warning[1] + max(60.0, 3 * interval)
        else:
            health = "ok" if run else "idle"
        if running:  # never given back whole
            until = -_FOREVER

        timing = self.timing
        durations, lateness = timing.durations, timing.lateness
        # tuples, shared with the link while someone watches (see Series), else made here; read
        # once, so last_transfer reads the same series as recent (a transfer may end meanwhile)
        series = timing.records
        series.watched = True
        records = series.recent
        if records is None:
            records = tuple(series.values)
        lateness.watched = True
        shown_lateness = lateness.recent
        if shown_lateness is None:
            shown_lateness = tuple(lateness.values)
        recent = {"lateness_seconds": shown_lateness, "records": records}
        last_transfer = None if not durations.count and not running else {
            "started_at": timing.start + to_wall,
            "duration_seconds": None if running else timing.last_duration,
            "records": None if running or not records else records[-1]}
        last_success = timing.last_success
        success_at = None if last_success is None else last_success + to_wall
        lateness_shown = lateness.shown or _nothing_shown()  # Window.shown: never changed
        duration_shown = durations.shown or _nothing_shown()
        if lend is not None:
            # the counters did not move: the previous snapshot with the timing, and whatever
            # else moved, stored in, in one call
            snapshot = dict(lend, last_transfer=last_transfer, last_success_at=success_at,
                            next_due_at=next_due, lateness_seconds=lateness_shown,
                            duration_seconds=duration_shown, recent=recent)
            if lend["health"] != health:
                snapshot["health"] = health
            if failing_since is not None:
                snapshot["failing_since"] = failing_since + to_wall
            elif lend["failing_since"] is not None:
                snapshot["failing_since"] = None
            if not retimed:  # what else may have moved: name, tags, errors and warnings
                if seen_ident != ident:
                    snapshot["name"] = name
                    snapshot["key"] = key
                    snapshot["interval_seconds"] = interval
                if lend["tags"] != tags:
                    snapshot["tags"] = tags[:]
        else:
            # A copy of a dict with its keys in place, then stores, costs less than a 17-key literal
            # (each literal key is an insert).
            snapshot = _LAYOUT.copy()
            snapshot["name"] = name
            snapshot["key"] = key
            snapshot["tags"] = tags[:]
            snapshot["interval_seconds"] = interval
            snapshot["health"] = health
            self._counter_sections(snapshot, link, inlets, outlets, run, pulled, batches, handed, running,
                                   pending)
            snapshot["last_transfer"] = last_transfer
            snapshot["last_success_at"] = success_at
            if failing_since is not None:
                snapshot["failing_since"] = failing_since + to_wall
            if shown_error is not _UNSEEN:
                snapshot["last_error"] = shown_error
            if shown_warning is not _UNSEEN:
                snapshot["last_warning"] = shown_warning
            snapshot["next_due_at"] = next_due
            snapshot["lateness_seconds"] = lateness_shown
            snapshot["duration_seconds"] = duration_shown
            snapshot["recent"] = recent
        if not retimed:
            if shown_error is _UNSEEN:
                snapshot["last_error"] = None if last_error is None else {
                    "type": last_error[0], "message": last_error[1], "node": last_error[2],
                    "at": last_error[3] + to_wall}
            if shown_warning is _UNSEEN:
                snapshot["last_warning"] = None if warning is None else \
                    {"kind": warning[0], "at": warning[1] + to_wall}
        self.cache = (changes, token, ident, until, to_wall, snapshot, last_error, warning)
        return snapshot

    def _counter_sections(self, snapshot: Dict[str, Any], link: Any, inlets: Sequence[Any],
                          outlets: Sequence[Any], run: int, pulled: int, batches: int, handed: int,
                          running: bool,
                          pending: Optional[Dict[int, Tuple[int, Optional[float]]]]) -> None:
        """Store a snapshot's ``transfers``, ``records`` and ``nodes`` sections (see :meth:`snapshot`)."""
        named = self.named
        if named is None or named[0] is not inlets or named[1] is not outlets:
            named = self._name_nodes(link)
        nodes: List[Dict[str, Any]] = []
        append = nodes.append
        for node, label in named[2]:
            append({"name": label, "role": "inlet", "calls": run - node.run_base,
                    "failures": node.failures, "time_spent_seconds": node.seconds,
                    "timed_calls": node.timed_calls})
        delivered = queued = 0
        for node, label in named[3]:
            waiting, oldest = _NOTHING_PENDING if not pending else \
                pending.get(id(node.node), _NOTHING_PENDING)
            took = handed - node.handed_base - node.failed_records + node.extra_records
            delivered += took
            queued += waiting
            append({"name": label, "role": "outlet",
                    "calls": batches - node.batches_base + node.extra_calls,
                    "failures": node.failures, "time_spent_seconds": node.seconds,
                    "timed_calls": node.timed_calls, "records_delivered": took,
                    "records_pending": waiting, "oldest_pending_age_seconds": oldest})
        records = link._counts.copy()
        records["pulled"] = pulled
        records["delivered"] = delivered
        records["pending"] = queued
        failed = self.failed
        snapshot["transfers"] = {"run": run, "succeeded": run - failed - running, "failed": failed,
                                 "skipped": self.skipped, "missed": self.missed, "running": running}
        snapshot["records"] = records
        snapshot["nodes"] = nodes

    def _name_nodes(self, link: Any) -> Tuple[Any, Any, List[Tuple[NodeStats, str]],
                                                List[Tuple[NodeStats, str]]]:
        """Pair the attached nodes with their counters and display names, inlets then outlets.

        Names are unique within the link (``#2``... for look-alikes). Kept in
        ``named`` until the link's node lists are replaced (nodes added or removed).
        """
        inlets, outlets = link._inlets, link._outlets
        attached = []
        for node in (*inlets, *outlets):
            counts = self.counts_of(node)
            if counts is None:  # attached behind our back
                counts = self.keep(NodeStats(node, _role(link, node), self.run, self.batches, self.handed))
            attached.append(counts)
        pairs = list(zip(attached, unique_names(_label(counts.node) for counts in attached)))
        named = self.named = (inlets, outlets, [pair for pair in pairs if pair[0].role == "inlet"],
                              [pair for pair in pairs if pair[0].role != "inlet"])
        return named


_NOTHING_PENDING = (0, None)
_LAYOUT = dict.fromkeys(("name", "key", "tags", "interval_seconds", "health", "transfers", "records",
                         "last_transfer", "last_success_at", "failing_since", "last_error", "last_warning",
                         "next_due_at", "lateness_seconds", "duration_seconds", "recent", "nodes"))

#: "Nothing lent" in :meth:`LinkStats.snapshot` (None is a value it may lend).
_UNSEEN = object()

#: Seconds within which two conversions to Unix time (``to_wall``, a next due time) count as the
#: same: they are differences of two clock readings taken a moment apart, so they jitter.
_SAME_TIME = 0.001

# Every bump of ``LinkStats.changes`` takes a value never used before (``next`` on a
# count is one atomic step under the GIL). ``changes += 1`` from two threads could
# store a value back that a cached snapshot was made under, hiding a write.
_next_change = count(1).__next__

_FOREVER = float("inf")


def timed_steps(steps: Any, stats: LinkStats) -> Any:
    """A transfer's steps (``_transfer.transfer_steps``) with every node call timed.

    ``Link._run`` passes a planner-run transfer through this: each call
    ``(function, args, is_coroutine, node)`` the pipeline yields runs wrapped
    by :meth:`LinkStats.timer`, in whatever thread or loop the driver runs it,
    so concurrent pulls are timed each on its own.
    """
    outcomes = None
    send = steps.send
    while True:
        try:
            calls, limit = send(outcomes)
        except StopIteration:
            return
        outcomes = yield [(stats.timer_async(node, function) if is_coroutine else stats.timer(node, function),
                           args, is_coroutine, node) for function, args, is_coroutine, node in calls], limit


def taken(count: int, error: Any) -> int:
    """How many records of a ``count``-record push that failed with ``error`` the outlet took anyway.

    A :class:`~databay.errors.RejectedRecords` rejects only its ``records``
    (the rest of the batch counts as delivered); a batch with records that
    could not be copied was pushed without them (``databay_uncopyable``). Any
    other failure took nothing.
    """
    left_out: Any
    if isinstance(error, RejectedRecords):
        left_out = error.records
    else:
        left_out = getattr(error, "databay_uncopyable", None)
    if not isinstance(left_out, list):
        return 0
    return max(count - len(left_out), 0)


def _role(link: Any, node: Any) -> str:
    return "inlet" if any(node is inlet for inlet in link.inlets) else "outlet"


def percentile(ordered: List[float], q: float) -> float:
    """Linear-interpolated percentile of the sorted, non-empty ``ordered``; ``q`` in [0, 1]."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _message(error: BaseException) -> str:
    """An error's message for stats, cut to 500 characters."""
    return short_repr(error, 500, str)


def _label(node: Any) -> str:
    """A short display name for a node: its repr, cut to 120 characters."""
    return short_repr(node, 120)


def unique_names(names: Iterable[str]) -> List[str]:
    """``names`` with repeats suffixed ``#2``, ``#3``... so each is unique (metric labels)."""
    if not isinstance(names, list):
        names = list(names)
    if len(set(names)) == len(names):  # the usual case: nothing to suffix
        return names
    taken: set = set()
    result = []
    for name in names:
        candidate, number = name, 1
        while candidate in taken:
            number += 1
            candidate = "%s#%d" % (name, number)
        taken.add(candidate)
        result.append(candidate)
    return result


def link_name(link: Any) -> str:
    """How stats and metrics name a link: its ``key``, else its tags joined by ``.``, else ``link``."""
    return link_names([link])[0]


def link_names(links: Sequence[Any]) -> List[str]:
    """:func:`link_name` of each of ``links``, made unique (``#2``... for repeats): one loop, no call
    per link, for ``planner.stats()`` of thousands of links."""
    return unique_names([str(key) if (key := link._key) else ".".join(link._tags) or "link"  # key: read once
                         for link in links])


def link_snapshot(link: Any) -> Dict[str, Any]:
    """``link.stats()``: its counters, and its next due time while a planner holds it."""
    hub = link._stats.hub
    planner = None if hub is None else hub.planner
    return link._stats.snapshot(link, link_name(link), next_due_at(planner, link), pending_of(link))


def planner_snapshot(planner: Any) -> Dict[str, Any]:
    """``planner.stats()``: the planner's state and every link's snapshot, in the planner's order.

    Links that did not change since their last snapshot give that one back
    (:meth:`LinkStats.snapshot`). Every other link's snapshot is some fifteen
    small containers, all alive until the snapshot is returned: with the
    cyclic garbage collector running, thousands of links would trigger
    collections that scan them (and the whole heap)
    again and again, doubling the cost. The collector is paused while they are
    built (none of them can form a cycle); they are freed by reference
    counting once the caller drops the snapshot.
    """
    with GC_PAUSE:
        return _planner_snapshot(planner)


def _planner_snapshot(planner: Any) -> Dict[str, Any]:
    links = planner.links
    names = link_names(links)
    now = perf_counter()
    to_wall = wall_time() - now
    due_to_wall = _due_to_wall(planner)
    snapshots: List[Dict[str, Any]] = []
    append = snapshots.append
    health = dict.fromkeys(HEALTH, 0)
    for link, name in zip(links, names):
        job = link._job
        if job is None:
            next_due = None
        else:
            due = getattr(job, "due", None)
            if due.__class__ is float and due_to_wall is not None:  # SchedulePlanner's jobs
                next_due = due + due_to_wall
            else:
                next_due = next_due_at(planner, link)
        snapshot = link._stats.snapshot(link, name, next_due,
                                        None if link._delivery is None else pending_of(link), now, to_wall)
        health[snapshot["health"]] += 1
        append(snapshot)
    return {"planner": {"type": type(planner).__name__, "state": str(getattr(planner, "_state", "")),
                        "running": bool(planner.running), "links": len(links), "health": health,
                        "time": now + to_wall},
            "links": snapshots}


def _due_to_wall(planner: Any) -> Optional[float]:
    """What turns a due time on ``planner``'s clock into Unix time (None: not a clock-protocol planner)."""
    clock: Any = getattr(planner, "_clock", None)
    if hasattr(clock, "wall") and hasattr(clock, "now"):
        return clock.wall() - clock.now()
    return None


def next_due_at(planner: Any, link: Any) -> Optional[float]:
    """When ``link``'s next transfer is due, in seconds since the epoch; None if not scheduled."""
    job = link.job
    if planner is None or job is None:
        return None
    due = getattr(job, "due", None)
    if isinstance(due, (int, float)) and not isinstance(due, bool):
        clock: Any = getattr(planner, "_clock", None)
        if hasattr(clock, "wall") and hasattr(clock, "now"):
            return clock.wall() + (due - clock.now())
        if callable(clock):
            return wall_time() + (due - clock())
        return None
    when: Any = getattr(job, "next_run_time", None)  # APScheduler's jobs
    return when.timestamp() if hasattr(when, "timestamp") else None


def pending_of(link: Any) -> Dict[int, Tuple[int, Optional[float]]]:
    """``id(outlet)`` -> (records in its retry queue, seconds the oldest has waited) of queues in use.

    Ages are on the clock the link's retry queues run on: the planner's clock
    while a planner holds the link (virtual time in tests), else monotonic time.
    """
    delivery = getattr(link, "_delivery", None)
    if delivery is None:
        return {}
    return {id(queue.outlet): (queue.pending, queue.oldest_age(delivery.clock))
            for queue in delivery.live_queues() if queue.pending}
