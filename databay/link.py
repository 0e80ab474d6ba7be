"""Link: which inlets feed which outlets, how often, and one transfer between them."""

from __future__ import annotations

import _thread
import sys
from _thread import TIMEOUT_MAX, get_ident

from ._coroutines import LoopRunner
from ._lifecycle import HELD_RELEASES, HeldReleases, acquired_inline, check_initialised, released_inline
from ._log import RepeatLimiter, get_logger
from ._stats import LinkStats, link_snapshot, timed_steps
from ._transfer import (
    NO_COUNTS,
    holds_records,
    report_raised,
    run_async,
    run_sync,
    transfer_plain,
    transfer_steps,
)
from ._validation import (
    check_bool,
    check_positive_int,
    check_retry,
    check_timeout,
    to_callables,
    to_list,
    to_seconds,
    to_tags,
)
from .errors import InvalidNodeError
from .inlet import Inlet
from .outlet import Outlet
from .schedules import Every
from .update import Update

TYPE_CHECKING = False
if TYPE_CHECKING:
    import datetime
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

__all__ = ["Link", "Update"]

_LOGGER = get_logger("databay.Link")
_RUNNER_LOCK = _thread.allocate_lock()
# Stands in for a link's empty list of tags, processors or groupers until someone asks for the
# list (see Link._own_list): building 10,000 links then makes no empty lists. Only read, never
# changed, never handed out.
_EMPTY: list = []
_LAZY_MAKING = _thread.allocate_lock()  # makes a link's own list or its Every on first use, once
# Guards a link's ``_acquired`` against a start and a stop in two threads (see _keep_acquired
# and _take_acquired): each node acquired is released once, by the stop or by the start.
# Held for a few steps, never while a hook runs; reentrant, for a signal handler's shutdown.
_ACQUIRED_LOCK = _thread.RLock()
_CHANGING_IN: Optional[int] = None  # the thread changing a link's list under the lock
_TRANSFER_NUMBERS = range(sys.maxsize)  # one range for every link: building one per link is slow
_NONE_ABANDONED: dict = {}  # Link._abandoned until a node call may time out: only read, never changed
_ON_DELIVERED = Inlet.on_delivered


class Link:
    """Connects inlets to outlets and runs transfers between them every ``interval``.

    One :meth:`transfer` pulls all inlets concurrently (at most
    ``inlet_concurrency`` at once), passes the records through ``processors``
    and ``groupers``, and pushes every batch to all outlets concurrently.

    Args:
        inlets: an Inlet or a list of Inlets.
        outlets: an Outlet or a list of Outlets.
        interval: seconds between transfers, as a timedelta, int or float > 0;
            short for ``schedule=Every(interval)``. Give it or ``schedule``.
        tags: a str or list of str naming the link; they prefix ``str(update)``.
        copy_records: give each outlet its own deep copy of every batch, so no
            outlet sees another's changes (default True).
        ignore_exceptions: log a failing inlet, processor, grouper or outlet
            and carry on without it, instead of raising (default False).
        inlet_concurrency: how many inlets may pull at once; None (default)
            means all of them.
        immediate_transfer: let a planner with ``immediate_transfer=True`` run
            this link once as soon as it starts (default True).
        processors: callables taking and returning a list of records, in order.
        groupers: callables taking and returning a list of batches, in order.
        schedule: when transfers are due, e.g. ``Every(10, align=True)`` or
            ``Cron("*/5 * * * *", tz="Europe/Berlin")`` (see ``databay.schedules``).
        timeout: seconds one node call may take (None: the planner's default,
            which is no limit unless ``SchedulePlanner(timeout=...)`` sets one).

    Raises:
        TypeError: a node is not an Inlet/Outlet, or an argument has the wrong type.
        ValueError: ``interval`` is not positive, both or neither of ``interval``
            and ``schedule`` are given, or ``inlet_concurrency`` < 1.
        InvalidNodeError: the same inlet or outlet is given twice.
        ImplementationError: a node's ``__init__`` skipped ``super().__init__()``.
    """

    # Slots: a planner builds thousands of links at once, and each attribute below is then set
    # without a dict; ``__dict__`` keeps any other attribute (and subclasses) possible.
    __slots__ = ("_inlets", "_outlets", "_needs_loop", "_acks", "_plain_nodes", "_running", "_tags",
                 "_copy_records", "_ignore_exceptions", "inlet_concurrency", "immediate_transfer",
                 "_processors", "_groupers", "_transfer_numbers", "_runner", "_job", "_stats",
                 "_repeat_limiter", "_delivery", "_schedule", "_interval_seconds", "_planner", "_acquired",
                 "_timeout", "_default_timeout", "__dict__", "__weakref__")
    # What most links never change, read from the class until a link sets its own (in its
    # ``__dict__``): building a link then sets none of them. Shared values are only ever read.
    # (Not what a planner's shutdown reads of every link, such as _runner: a slot reads faster.)
    _failed_at: Any = None  # (kind, node, update, error) of the failure transfer() raised
    # id(node) -> its call abandoned after a timeout; the link's own once a timeout applies
    # (see _abandoned_calls)
    _abandoned: Dict[int, Any] = _NONE_ABANDONED
    _counts: Dict[str, int] = NO_COUNTS  # the link's own from its first count (see _own_counts)
    _retry: Any = None  # see _init_delivery
    _dead_letter: Optional[Outlet] = None
    _journal: Optional[str] = None
    _key: Optional[str] = None  # see _init_key
    _custom_pipeline = False  # a subclass overrides the processors or groupers property

    def __init__(self,
                 inlets: Union[Inlet, Sequence[Inlet]],
                 outlets: Union[Outlet, Sequence[Outlet]],
                 interval: Union[datetime.timedelta, int, float, None] = None,
                 tags: Union[str, List[str], None] = None,
                 copy_records: bool = True,
                 ignore_exceptions: bool = False,
                 catch_exceptions: Optional[bool] = None,
                 inlet_concurrency: Optional[int] = None,
                 immediate_transfer: bool = True,
                 processors: Union[Callable, List[Callable], None] = None,
                 groupers: Union[Callable, List[Callable], None] = None,
                 name: Optional[str] = None, *,
                 schedule: Any = None,
                 timeout: Optional[float] = None,
                 retry: Any = None,
                 dead_letter: Any = None,
                 journal: Any = None,
                 key: Optional[str] = None) -> None:
        if name is not None:
            from ._deprecation import warn_deprecated

            warn_deprecated("Link(name=...)", "Link(tags=...)", since="0.2.0")
            tags = [name]
        if catch_exceptions is not None:
            from ._deprecation import warn_deprecated

            warn_deprecated("Link(catch_exceptions=...)", "Link(ignore_exceptions=...)",
                            since="0.2.0")
            ignore_exceptions = catch_exceptions
        self._running = False  # between on_start and on_shutdown
        # Each check is called only for a value that is not the usual one.
        self._tags = _EMPTY if tags is None else to_tags("tags", tags)
        self._copy_records = copy_records if copy_records is True or copy_records is False else \
            check_bool("copy_records", copy_records)
        self._ignore_exceptions = ignore_exceptions if ignore_exceptions is True or \
            ignore_exceptions is False else check_bool("ignore_exceptions", ignore_exceptions)
        self.inlet_concurrency = None if inlet_concurrency is None else \
            check_positive_int("inlet_concurrency", inlet_concurrency, allow_none=True)
        self.immediate_transfer = immediate_transfer if immediate_transfer is True or \
            immediate_transfer is False else check_bool("immediate_transfer", immediate_transfer)
        self._processors = _EMPTY if processors is None else to_callables("processors", processors)
        self._groupers = _EMPTY if groupers is None else to_callables("groupers", groupers)
        if self._custom_pipeline:  # a subclass's own properties: 0.3.0 assigned through them
            self.processors = [] if processors is None else self._processors
            self.groupers = [] if groupers is None else self._groupers
        # 0, 1, 2...: next() on it is atomic, like itertools.count(), and the iterator is no object
        # for the garbage collector to visit (a count() is)
        self._transfer_numbers = iter(_TRANSFER_NUMBERS)
        self._runner: Optional[LoopRunner] = None  # see _loop_runner: only coroutine nodes need one
        self._job: Any = None
        self._repeat_limiter: Any = None  # created on the first failure (see _failure_log)
        self._delivery: Any = None  # see _init_delivery
        self._planner: Any = None  # the planner holding this link (at most one)
        self._acquired: Any = ()  # nodes this link started or shares: a list once started (see on_start)
        # Not started yet: the nodes are only checked. The stats note them before anything counts.
        one_each = False  # one real, initialised inlet and outlet: the usual link
        own = type(self)  # compared here, not once per class: a decorator or a patch may set them later
        if own.add_inlets is _ADD_INLETS and own.add_outlets is _ADD_OUTLETS:
            # One real, initialised node each: what _checked_nodes would give, without its two calls.
            if Inlet in type(inlets).__mro__ and Outlet in type(outlets).__mro__ and \
                    getattr(inlets, "_active", None) is not None and \
                    getattr(outlets, "_active", None) is not None:
                self._inlets: List[Inlet] = [inlets]  # type: ignore[list-item]  # checked just above
                self._outlets: List[Outlet] = [outlets]  # type: ignore[list-item]
                one_each = True
            else:
                self._inlets = self._checked_nodes("inlets", inlets, Inlet, ())
                self._outlets = self._checked_nodes("outlets", outlets, Outlet, ())
            self._stats = LinkStats(self)
        else:  # a subclass hooks them: 0.3.0 added the constructor's nodes through them
            self._inlets, self._outlets = [], []
            self._stats = LinkStats(self)  # before the nodes: it counts from their attachment on
            self.add_inlets(inlets)
            self.add_outlets(outlets)
        # Each feature below parses its own arguments in its own method.
        kind = type(interval)  # to_seconds's own fast test, without its call (10,000 links at once)
        if schedule is None and (kind is int or kind is float) and \
                0 < interval <= TIMEOUT_MAX:  # type: ignore[operator]  # an int or a float
            # seconds as an int or float: what _init_schedule sets for them, without its call
            self._interval_seconds: Optional[float] = float(interval)  # type: ignore[arg-type]
            self._schedule: Any = None  # Every(interval), made when first asked for (see schedule)
        else:
            self._init_schedule(interval, schedule)
        if timeout is None and retry is None and dead_letter is None and journal is None and key is None:
            # the usual link: what the three methods below set for these Nones, without their calls
            # (retry, dead letter, journal and key: the class's None)
            self._timeout: Optional[float] = None
            self._default_timeout: Optional[float] = None  # a planner sets its own (see _init_timeout)
        else:
            self._init_timeout(timeout)
            self._init_delivery(retry, dead_letter, journal)
            self._init_key(key)
        if one_each and dead_letter is None:  # what _nodes_changed works out, without its calls
            self._needs_loop = inlets._uses_coroutine or outlets._uses_coroutine  # type: ignore[union-attr]
            self._acks = type(inlets).on_delivered is not _ON_DELIVERED  # type: ignore[union-attr]
            self._plain_nodes: Any = False  # worked out by the first transfer (see _plain_after_change)
        else:
            self._nodes_changed()

    def _init_schedule(self, interval: Any, schedule: Any) -> None:
        """When transfers are due (planners ask the schedule); see the shortcut in ``__init__``."""
        if schedule is None:
            if interval is None:
                raise TypeError("interval=None and schedule=None: a Link needs interval= (a positive "
                                "number of seconds or a timedelta) or schedule=Every(...)/Cron(...)")
            self._interval_seconds = to_seconds("interval", interval)
            self._schedule = None  # Every(interval), made when first asked for (see schedule)
        elif interval is not None:
            raise ValueError("interval=%r and schedule=%r: give one of them, not both"
                             % (interval, schedule))
        elif not callable(getattr(schedule, "bind", None)):
            raise TypeError("schedule=%r must be a schedule such as Every(10) or "
                            "Cron('*/5 * * * *') (an object with a bind() method)" % (schedule,))
        else:
            self._schedule = schedule
            self._interval_seconds = getattr(schedule, "seconds", None)

    def _init_timeout(self, timeout: Optional[float]) -> None:
        """The limit of one node call, in seconds (None: no limit; see :meth:`transfer`).

        A planner sets ``_default_timeout`` (its own ``timeout=``) for links
        whose own timeout is None.
        """
        self._timeout = None if timeout is None else check_timeout("timeout", timeout)
        self._default_timeout = None

    def _init_delivery(self, retry: Any, dead_letter: Any, journal: Any) -> None:
        """Delivery guarantees: retry queues, dead letters, the journal (see docs/delivery.md).

        Without any of them the link keeps no delivery state and its transfers
        pay nothing for the feature.
        """
        # None: the class's None stays (see the class body)
        if retry is not None:
            self._retry = check_retry(retry, self._outlets)
        if dead_letter is not None and not isinstance(dead_letter, Outlet):
            raise TypeError("dead_letter=%r must be an Outlet (or None)" % (dead_letter,))
        if dead_letter is not None:
            check_initialised(dead_letter)
            self._dead_letter = dead_letter
        if journal is not None:
            from ._journal import check_path

            self._journal = check_path(journal)
        if retry is not None or dead_letter is not None or journal is not None:
            self._ensure_delivery()

    @property
    def _loop_runner(self) -> LoopRunner:
        """The event loop runner of this link's transfers, created on first use (async nodes)."""
        runner = self._runner
        if runner is None:
            with _RUNNER_LOCK:  # two first transfers at once still share one runner
                runner = self._runner
                if runner is None:
                    runner = self._runner = LoopRunner()
        return runner

    def _abandoned_calls(self) -> Dict[int, Any]:
        """``_abandoned``, made this link's own dict first if it still is the shared empty one:
        a transfer with a node-call timeout passes it on to be written."""
        abandoned = self._abandoned
        if abandoned is _NONE_ABANDONED:
            with _LAZY_MAKING:  # two first timed transfers at once still share one dict
                abandoned = self._abandoned
                if abandoned is _NONE_ABANDONED:
                    abandoned = self._abandoned = {}
        return abandoned

    def _own_counts(self) -> Dict[str, int]:
        """``_counts``, made this link's own dict first if it still is the shared ``NO_COUNTS``."""
        with _LAZY_MAKING:  # two first counts at once (a flush and a transfer) share one dict
            if self._counts is NO_COUNTS:
                self._counts = NO_COUNTS.copy()
            return self._counts

    def _ensure_delivery(self) -> Any:
        """This link's delivery state (created on first need: options, or an inlet's ``on_delivered``)."""
        if self._delivery is None:
            from ._delivery import Delivery

            self._delivery = Delivery(self, self._retry, self._dead_letter, self._journal)
            if self._running:
                self._delivery.start()
        return self._delivery

    @property
    def retry(self) -> Any:
        """The ``retry`` given: None, a Retry, or a dict of outlet → Retry."""
        return self._retry

    @property
    def dead_letter(self) -> Optional[Outlet]:
        """The outlet receiving records no outlet will take, or None."""
        return self._dead_letter

    @property
    def journal(self) -> Optional[str]:
        """The path of this link's journal, or None."""
        return self._journal

    def _init_key(self, key: Optional[str]) -> None:
        """The stable key identifying this link (sharding, stats); None: derived from tags."""
        if key is not None:
            if not isinstance(key, str):
                raise TypeError("key=%r must be a non-empty str, or None to derive it from tags"
                                % (key,))
            if not key:
                raise ValueError("key='' must be a non-empty str, or None to derive it from tags")
            self._key = key  # None: the class's None stays

    # -- nodes -------------------------------------------------------------

    @property
    def inlets(self) -> List[Inlet]:
        """The inlets of this link, in pull order."""
        return self._inlets

    @property
    def outlets(self) -> List[Outlet]:
        """The outlets of this link."""
        return self._outlets

    def add_inlets(self, inlets: Union[Inlet, Sequence[Inlet]]) -> None:
        """Add one inlet or a list of inlets.

        On a started link (between ``on_start`` and ``on_shutdown``) the new
        inlets are started first, so their first pull finds them ready.

        Raises:
            TypeError: an item is not an Inlet.
            InvalidNodeError: an inlet is already in this link or given twice.
        """
        new = self._started_if_running(self._checked_nodes("inlets", inlets, Inlet, self._inlets))
        self._inlets = self._inlets + new
        self._nodes_changed()

    def remove_inlets(self, inlets: Union[Inlet, Sequence[Inlet]]) -> None:
        """Remove one inlet or a list of inlets; InvalidNodeError if one is not here."""
        self._inlets = self._without("inlet", inlets, self._inlets)
        self._nodes_changed()

    def add_outlets(self, outlets: Union[Outlet, Sequence[Outlet]]) -> None:
        """Add one outlet or a list of outlets (same rules as :meth:`add_inlets`)."""
        new = self._started_if_running(self._checked_nodes("outlets", outlets, Outlet,
                                                           self._outlets))
        self._outlets = self._outlets + new
        self._nodes_changed()

    def _started_if_running(self, nodes: list) -> list:
        """Start ``nodes`` when this link is started; if one fails, stop those started before.
        If the link was stopped meanwhile (another thread), they are stopped again."""
        if self._running:
            acquired: list = []
            for node in nodes:
                try:
                    node._acquire()
                except BaseException:
                    for done in acquired:
                        done._release()
                    raise
                acquired.append(node)
            held = self._acquired
            if held.__class__ is not list or not _keep_acquired(self, held, acquired):
                self._released(acquired)  # stopped meanwhile (() once stopped)
        return nodes

    def remove_outlets(self, outlets: Union[Outlet, Sequence[Outlet]]) -> None:
        """Remove one outlet or a list of outlets; InvalidNodeError if one is not here."""
        self._outlets = self._without("outlet", outlets, self._outlets)
        self._nodes_changed()

    def _nodes_changed(self) -> None:
        """Recompute what depends on the set of nodes: whether a transfer needs a loop, and
        whether an inlet wants acknowledgements (``on_delivered``)."""
        dead_letter = getattr(self, "_dead_letter", None)
        needs_loop = dead_letter is not None and dead_letter._uses_coroutine
        acks = False
        default = Inlet.on_delivered
        for inlet in self._inlets:
            needs_loop = needs_loop or inlet._uses_coroutine
            # getattr: a mock's type may lack on_delivered
            acks = acks or getattr(type(inlet), "on_delivered", default) is not default
        for outlet in self._outlets:
            needs_loop = needs_loop or outlet._uses_coroutine
        self._needs_loop = needs_loop
        self._acks = acks
        self._stats.nodes_changed(self._inlets, self._outlets)
        self._plain_nodes = False  # worked out by the next transfer: a link built need not know yet

    def _plain_after_change(self) -> Any:
        """Work out ``_plain_nodes`` again after the nodes changed, and keep it unless they changed
        once more meanwhile (``add_inlets`` on another thread): that change's ``False`` stays."""
        inlets, outlets = self._inlets, self._outlets
        plain = self._plain_nodes = self._plain()
        if self._inlets is not inlets or self._outlets is not outlets:  # lists are replaced, not changed
            self._plain_nodes = False
        return plain

    def _plain(self) -> Any:
        """``(inlet, outlet, label)`` if transfers may take ``transfer_plain`` as far as the nodes go
        (one sync inlet, one sync outlet, no acknowledgements, no dead letter); else None.

        What may change between transfers (processors, groupers, delivery
        state, timeouts) is checked by :meth:`transfer` each time.
        """
        if len(self._inlets) != 1 or len(self._outlets) != 1 or self._needs_loop or self._acks \
                or getattr(self, "_dead_letter", None) is not None or self._custom_pipeline:
            return None
        inlet = self._inlets[0]
        return inlet, self._outlets[0], inlet._fixed_label()

    def _checked_nodes(self, parameter: str, nodes: Any, kind: type, present: Sequence[Any]) -> list:
        if not present and not isinstance(nodes, (list, tuple)):  # one node: nothing to repeat
            if kind not in type(nodes).__mro__ and not isinstance(nodes, kind):  # the MRO: no ABC hook
                raise TypeError("%s=%r: %r is not an instance of %s"
                                % (parameter, nodes, nodes, kind.__name__))
            # not ``"_active" in __dict__``: reading ``__dict__`` builds it. A stand-in (a mock)
            # answers any name: only a real node's class makes ``_active`` a real flag.
            if getattr(nodes, "_active", None) is None or kind not in type(nodes).__mro__:
                check_initialised(nodes)
            return [nodes]
        new: list = []
        seen = set(map(id, present))  # the nodes are alive: their ids are unique
        for node in to_list(nodes):
            if kind not in type(node).__mro__ and not isinstance(node, kind):  # the MRO: no ABC hook
                raise TypeError("%s=%r: %r is not an instance of %s"
                                % (parameter, nodes, node, kind.__name__))
            check_initialised(node)
            if id(node) in seen:
                raise InvalidNodeError("Link already contains %s: %r" % (kind.__name__.lower(), node))
            seen.add(id(node))
            new.append(node)
        return new

    @staticmethod
    def _without(kind: str, nodes: Any, present: list) -> list:
        remaining = list(present)
        for node in to_list(nodes):
            for index, other in enumerate(remaining):
                if other is node:
                    del remaining[index]
                    break
            else:
                raise InvalidNodeError("Link does not contain %s: %r" % (kind, node))
        return remaining

    # -- configuration -----------------------------------------------------

    @property
    def interval(self) -> Optional[datetime.timedelta]:
        """Time between transfers, as a timedelta (None for a schedule without one, e.g. Cron)."""
        import datetime

        if self._interval_seconds is None:
            return None
        return datetime.timedelta(seconds=self._interval_seconds)

    @property
    def interval_seconds(self) -> Optional[float]:
        """Time between transfers in seconds (None for a schedule without one, e.g. Cron)."""
        return self._interval_seconds

    @property
    def schedule(self) -> Any:
        """When transfers are due: ``Every(interval)`` unless ``schedule=`` said otherwise."""
        schedule = self._schedule
        if schedule is None:  # made on first use: 10,000 links built at once need none of them yet
            with _LAZY_MAKING:  # an assignment meanwhile (a shard re-aligning it) is kept
                schedule = self._schedule
                if schedule is None:
                    schedule = self._schedule = Every(self._interval_seconds)
        return schedule

    @property
    def timeout(self) -> Optional[float]:
        """The limit of one node call in seconds, as given (None: the planner's default)."""
        return self._timeout

    @property
    def tags(self) -> List[str]:
        """The tags naming this link (a list, possibly empty)."""
        return self._own_list("_tags")

    processors = property(
        lambda self: self._own_list("_processors"), lambda self, value: self._set_list("_processors", value),
        doc="The callables each transfer passes its records through, in order (a list you may change).")
    groupers = property(
        lambda self: self._own_list("_groupers"), lambda self, value: self._set_list("_groupers", value),
        doc="The callables each transfer passes its batches through, in order (a list you may change).")

    def _set_list(self, slot: str, value: list) -> None:
        """Assign ``slot`` (processors, groupers), never overwritten by a racing first read's
        new empty list (see :meth:`_own_list`)."""
        with _LAZY_MAKING:
            setattr(self, slot, value)

    def _pipeline(self) -> Tuple[List[Callable], List[Callable]]:
        """``(processors, groupers)`` as a transfer uses them: read from their slots (no list is
        made for an empty one), or through the properties where a subclass overrides them."""
        if self._custom_pipeline:
            return self.processors, self.groupers
        return self._processors, self._groupers

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._custom_pipeline = cls.processors is not Link.processors or cls.groupers is not Link.groupers

    def _own_list(self, slot: str) -> list:
        """The list in ``slot``, made this link's own if it still is the shared empty stand-in
        (``_EMPTY``): whoever asks for it may change it. Two first readers get the same list."""
        value = getattr(self, slot)
        if value is _EMPTY:
            with _LAZY_MAKING:
                value = getattr(self, slot)
                if value is _EMPTY:
                    value = []
                    setattr(self, slot, value)
        return value

    @property
    def name(self) -> str:
        """Deprecated since 0.2.0: the first tag, or ``''``."""
        from ._deprecation import warn_deprecated

        warn_deprecated("Link.name", "Link.tags", since="0.2.0")
        return self._tags[0] if self._tags else ""

    @property
    def key(self) -> str:
        """The stable name of this link: ``key=`` if given, else its tags joined by ``'.'``.

        It stays the same across processes and restarts (it is not ``id()``
        or ``hash()``), so it can decide which shard of a distributed run owns
        the link. A link with neither ``key=`` nor tags has the key ``''``.
        """
        return self._key if self._key is not None else ".".join(self._tags)

    @property
    def copy_records(self) -> bool:
        """Whether each outlet gets its own deep copy of every batch."""
        return self._copy_records

    @property
    def ignore_exceptions(self) -> bool:
        """Whether failing nodes are logged and skipped instead of raised."""
        return self._ignore_exceptions

    @property
    def delivery_counts(self) -> Dict[str, int]:
        """Records this link did not deliver normally, by what happened to them (a copy).

        ``refused``: a failing push (or outlet processor) took them, without retry;
        ``lost``: everything that left the link undelivered and not dead-lettered.
        """
        return dict(self._counts)

    def set_job(self, job: Any) -> None:
        """Store the planner's handle for this link (used by planners)."""
        self._job = job

    @property
    def job(self) -> Any:
        """The planner's handle for this link, or None when not scheduled."""
        return self._job

    # -- running -----------------------------------------------------------

    def transfer(self) -> None:
        """Run one transfer now, in the calling thread.

        A link whose inlets and outlets are all plain ``def`` runs without an
        event loop; one with a coroutine node runs on an event loop it reuses
        between transfers. Works from a thread that already runs a loop.

        Raises:
            Exception: whatever a node raised, unchanged, unless ``ignore_exceptions``.
        """
        plain = self._plain_nodes
        if plain is False:  # the nodes changed since the last transfer
            plain = self._plain_after_change()
        if plain is None or self._processors or self._groupers or self._delivery is not None or \
                self._timeout is not None or self._default_timeout is not None:
            self._run(flush=False)
            return
        tags = self._tags  # the Update hands the link's own list to the nodes
        update = Update(tags if tags is not _EMPTY else self._own_list("_tags"), next(self._transfer_numbers))
        try:
            transfer_plain(self, plain[0], plain[1], plain[2], update)
        except BaseException as error:
            self._stats.transfer_raised(error)  # as in _run
            raise

    def _log_raised(self, error: BaseException) -> bool:
        """Log ``error``, raised by :meth:`transfer`, as the node failure it came from.

        For planners that carry on after a failed transfer: the node's repeated
        failures then print one traceback and a summary a minute. False if the
        error did not come from a node of this link.
        """
        return report_raised(self, error)

    def flush(self, timeout: Optional[float] = None) -> bool:
        """Deliver every record held by Buffers (link or outlet processors) and retry queues now.

        Runs one transfer that pulls nothing, asks each holding processor to
        release, and makes one attempt at every outlet's retry queue whatever
        its backoff says (this is the final attempt planners make at shutdown).
        A journal left by an earlier run is replayed first. Returns whether
        anything was held.

        Args:
            timeout: seconds this may take at most (None: no limit beyond the
                link's node-call timeout); a node call still running then is
                abandoned like a timed-out one. What is left stays queued:
                :meth:`on_shutdown` keeps it in the journal or counts it as lost.
        """
        deadline = None
        if timeout is not None:
            import time

            deadline = time.monotonic() + check_timeout("timeout", timeout)
        if self._delivery is None and not self._processors and not self._custom_pipeline:
            outlets = self._outlets  # the usual link: what _holds_records finds, without its calls
            if len(outlets) == 1 and not outlets[0].processors:
                return False  # (a planner's shutdown asks this of each of 10,000 links)
        if not self._holds_records():
            return False
        self._run(flush=True, deadline=deadline)
        return True

    def _holds_records(self) -> bool:
        """Whether a retry queue, a journal to replay or a Buffer holds records for this link.

        Plain loops: a planner asks this of every link at shutdown.
        """
        delivery = self._delivery
        if delivery is not None and (delivery.replay_pending or
                                     any(q.entries for q in delivery.live_queues())):
            return True
        processors = self._pipeline()[0]
        if processors and any(holds_records(processor) for processor in processors):
            return True
        for outlet in self._outlets:  # an empty list is not iterated: most have no processors
            if outlet.processors and any(holds_records(processor) for processor in outlet.processors):
                return True
        return False

    @property
    def retry_due(self) -> Optional[float]:
        """When the earliest retry queue of this link is due, or None: ``time.monotonic()``, or the
        holding planner's ``clock.now()`` (retry backoff runs on the planner's clock, virtual time too).

        Retries ride on transfers (a retry falls due at the first transfer at
        most one interval before its backoff ends); a planner may call
        :meth:`flush` at this time instead of waiting for a transfer.
        """
        delivery = self._delivery
        if delivery is None:
            return None
        due = [queue.next_attempt for queue in delivery.live_queues() if queue.entries]
        return min(due) if due else None

    def _run(self, flush: bool, deadline: Optional[float] = None) -> None:
        delivery = self._delivery
        if delivery is not None and delivery.journal is None and delivery.journal_path is not None:
            delivery.start()  # a transfer without on_start (e.g. called by hand) journals too
        if delivery is not None and delivery.replay_pending:
            replay = delivery.take_replay()  # also restores journaled retry queues
            if replay[0]:
                update = Update(self.tags, next(self._transfer_numbers))
                self._drive(transfer_steps(self, update, replay=replay), update, deadline)
        update = Update(self.tags, next(self._transfer_numbers))
        steps = transfer_steps(self, update, flush=flush)
        if self._stats.running:  # a planner runs this transfer: time each node call (databay/_stats.py)
            steps = timed_steps(steps, self._stats)
        try:
            if deadline is None and self._timeout is None and self._default_timeout is None \
                    and not self._needs_loop:  # the common case, without a call more than needed
                run_sync(steps)
            else:
                self._drive(steps, update, deadline)
        except BaseException as error:
            if not flush:  # counted as failed; the pipeline counted the rest (databay/_stats.py)
                self._stats.transfer_raised(error)
            raise

    def _drive(self, steps: Any, update: Any = None, deadline: Optional[float] = None) -> None:
        timeout = self._timeout if self._timeout is not None else self._default_timeout
        if timeout is None and deadline is None:  # the common case: no clock, no extra thread
            if self._needs_loop:
                self._loop_runner.run(run_async(steps))
            else:
                run_sync(steps)
        elif self._needs_loop:
            self._loop_runner.run(run_async(steps, timeout, self, update, deadline))
        else:
            run_sync(steps, timeout, self, update, deadline)

    def stats(self) -> Dict[str, Any]:
        """This link's counters as a JSON-ready dict (see docs/observability.md).

        Transfers run / succeeded / failed / skipped / missed, records pulled /
        delivered / refused / retried / dropped / dead-lettered, the last
        transfer, success and error, the next due time while a planner holds
        the link, lateness and duration summaries, and per-node counters.
        """
        return link_snapshot(self)

    def on_start(self) -> None:
        """Start using every inlet and outlet (and the dead letter): a node's ``on_start``
        runs for its first user.

        Idempotent. If a node fails to start, the nodes this call started are
        released again and the error propagates (with ``ignore_exceptions`` it
        is logged and the other nodes still start). With a journal, opens it;
        what an earlier run left in it is replayed at the start of the first
        transfer (or flush).
        """
        if self._delivery is not None:
            self._delivery.start()  # first: a journal that cannot be opened leaves no node started
        with _ACQUIRED_LOCK:
            acquired = self._acquired
            if acquired.__class__ is not list:  # () when stopped
                acquired = self._acquired = []
            self._running = True
        nodes = self._inlets + self._outlets  # a new list: the link's own are never changed
        if self._dead_letter is not None:
            nodes.append(self._dead_letter)
        for node in nodes:
            if self._acquired is not acquired:  # stopped meanwhile (a node's hook, another thread)
                return
            for held in acquired:
                if held is node:
                    break
            else:
                try:
                    cls = type(node)
                    if acquired_inline(cls):  # asked each time: a class patched later is seen
                        # Lifecycle._acquire's steps, inline: its two calls per node were ~60 µs
                        # of a 20-link start() before the immediate transfers
                        lock = node._lifecycle_lock
                        if lock is None:
                            lock = node._checked_lock()
                        lock.acquire()
                        try:
                            started = not node._active
                            if started:
                                node.on_start()
                                node._active = True
                                node._started_by_users = True
                            node._users += 1
                        finally:
                            lock.release()
                        if started:
                            hub = self._stats.hub  # LinkStats.node_changed's test, without its call
                            if hub is not None and hub.active:
                                self._stats.node_changed(node, True)
                    else:
                        was_active = getattr(node, "_active", None)  # a mocked node has none
                        node._acquire()
                        if getattr(node, "_active", None) is not was_active:
                            self._stats.node_changed(node, node._active)
                except Exception as error:
                    if not self._ignore_exceptions:
                        self._running = False
                        self._release_nodes()
                        if self._delivery is not None:
                            self._delivery.stop()
                        raise
                    _LOGGER.error("on_start of %r failed in %r: %r", node, self, error, exc_info=True)
                    continue
                if not _keep_acquired(self, acquired, (node,)):
                    self._released((node,))  # stopped meanwhile: this start gives it back
                    return

    def on_shutdown(self) -> None:
        """Stop using the nodes: a node's ``on_shutdown`` runs when its last user stops.

        Nodes still used by another started link (in this or another planner)
        keep running. Also closes this link's event loop. Idempotent.
        """
        self._running = False
        error: Optional[BaseException] = None
        try:
            if self._delivery is not None:
                self._delivery.stop()
        finally:
            try:
                if self._acquired.__class__ is list:  # also empty: a start under way sees it taken
                    error = self._release_nodes()
            finally:
                if self._runner is not None:
                    self._runner.close()
                if self._repeat_limiter is not None:
                    self._repeat_limiter.flush()
        if error is not None and not self._ignore_exceptions:
            raise error

    def _failure_log(self) -> RepeatLimiter:
        """The limiter through which this link logs node failures (one traceback, then summaries)."""
        limiter = self._repeat_limiter
        if limiter is None:
            limiter = self._repeat_limiter = RepeatLimiter(_LOGGER)
        return limiter

    def _release_nodes(self) -> Optional[BaseException]:
        """Release every acquired node, even if some fail; returns the first failure."""
        return self._released(_take_acquired(self))

    def _released(self, acquired: Sequence[Any]) -> Optional[BaseException]:
        """Release each of ``acquired``, even if some fail; returns the first failure.
        A KeyboardInterrupt or SystemExit of a hook is raised once all are released."""
        first: Optional[BaseException] = None
        interrupt: Optional[BaseException] = None
        for node in acquired:
            try:
                if node._release() is True:  # it shut the node down (a mock may return a mock)
                    hub = self._stats.hub  # checked here: at shutdown a call per node costs more
                    if hub is not None and hub.active:
                        self._stats.node_changed(node, False)
            except Exception as error:
                _LOGGER.error("on_shutdown of %r failed in %r: %r", node, self, error,
                              exc_info=True)
                first = first or error
            except BaseException as error:  # noqa: B036 - raised below, the other nodes released
                interrupt = interrupt or error
        if interrupt is not None:
            raise interrupt
        return first

    def __repr__(self) -> str:
        schedule = self._schedule
        plain = schedule is None or isinstance(schedule, Every) and schedule == Every(schedule.seconds)
        when = self.interval if plain else schedule
        return "Link(tags:%s, interval:%s, inlets:%s, outlets:%s)" % (
            self._tags, when, self._inlets, self._outlets)


_LINK_ON_SHUTDOWN = Link.on_shutdown
_ADD_INLETS = Link.add_inlets
_ADD_OUTLETS = Link.add_outlets


def flush_links(links: Sequence[Link], failed: Callable[[Link, Exception], None]) -> None:
    """``link.flush()`` of each of ``links`` in order (a planner's shutdown); ``failed(link,
    error)`` for each that raised. Called, not skipped: a ``flush`` set on the instance or
    patched is then called too, and Link's own returns at once for a plain link (no bound
    method made per link to tell them apart: 10,000 links, one loop)."""
    for link in links:
        try:
            link.flush()
        except Exception as error:  # noqa: BLE001 - every link gets its turn
            failed(link, error)


def shutdown_links(links: Sequence[Link], failed: Callable[[Link, Exception], None],
                   listened: bool = True) -> None:
    """``link.on_shutdown()`` of each of ``links`` in order (a planner's shutdown); ``failed(link,
    error)`` for each that raised.

    10,000 links are 20,000 node releases, so a plain link (Link's own
    ``on_shutdown``; no journal, retry queue, event loop or failure log to
    close) is stopped here with the same steps, and a node of a plain class
    (``_lifecycle.released_inline``) is released with ``Lifecycle._release``'s
    steps under its lock: one loop instead of four calls per link and node.

    One node that later links of these share (an outlet of 10,000 links) is
    *held*: its releases before the last of those links are counted, and that
    link makes them together with its own, under the node's lock once instead
    of once per link (``_lifecycle.HeldReleases``). Counted, not made, they only
    keep its count of users higher for a while: it is never stopped early, any
    other release of it in this thread (a hook stopping another link) takes
    them along, and from that last link on its count is true again, so it
    stops where it would have, here or in another planner that uses it too.

    ``listened=False``: no listener is subscribed to the hub these links report
    to (their planner's, read once for the whole shutdown), so no stopped node
    is reported; each link's own hub is read only while one is.
    """
    ident = get_ident()
    interrupt: Optional[BaseException] = None  # a hook's KeyboardInterrupt/SystemExit: raised at the end
    if ident in HELD_RELEASES:  # inside a hook of an outer shutdown: one link at a time
        for link in links:
            try:
                link.on_shutdown()
            except Exception as error:  # noqa: BLE001 - every link gets its turn
                failed(link, error)
            except BaseException as error:  # noqa: B036 - raised below
                interrupt = interrupt or error
        if interrupt is not None:
            raise interrupt
        return
    held = HELD_RELEASES[ident] = HeldReleases()
    held_node: Any = None  # held.node
    last: Any = None  # the last of ``links`` that holds it: makes the releases counted
    steps = len(links)  # links looked at, at most, to find ``last`` (once each: linear)
    inline: set = set()  # node classes released inline
    own_on_shutdown = _LINK_ON_SHUTDOWN
    try:
        for link in links:
            try:  # on_shutdown read through the instance: one set on it, or patched, is called
                try:
                    own = link.on_shutdown.__func__ is own_on_shutdown  # type: ignore[attr-defined]
                except AttributeError:  # a function set on the instance
                    own = False
                if not own or link._delivery is not None or \
                        link._runner is not None or link._repeat_limiter is not None:
                    link.on_shutdown()
                    continue
                link._running = False
                acquired = link._acquired
                link._acquired = ()  # also when empty: a start adding its nodes now sees it taken
                if _CHANGING_IN is not None and _CHANGING_IN != ident:  # see _keep_acquired
                    _changes_ended()
                if not acquired:
                    continue
            except Exception as error:  # noqa: BLE001 - every link gets its turn
                failed(link, error)
                continue
            except BaseException as error:  # noqa: B036 - raised below, once every link stopped
                interrupt = interrupt or error
                continue
            first: Optional[Exception] = None
            for node in acquired:  # Link._release_nodes
                try:
                    if node is held_node:
                        owed = held.owed
                        # users read without its lock: a hook may have stopped ``last`` by hand
                        if link is not last and node._users > owed + 1:
                            held.owed = owed + 1
                            continue
                        held.owed = 0  # the last one, or one that may stop it: made now, with those
                        if node._release(owed + 1) is True:
                            _report_stopped(link, node)
                        continue
                    if type(node) not in inline:
                        if not released_inline(type(node)):
                            if node._release() is True:  # a mock's may return a mock
                                _report_stopped(link, node)
                            continue
                        inline.add(type(node))
                    stopped = False
                    lock = node._lifecycle_lock
                    lock.acquire()
                    try:  # Lifecycle._release and try_shutdown, step by step
                        users = node._users
                        if users > 1:
                            node._users = users - 1
                            if not held.owed and node is not held_node and steps:
                                later, steps = _last_holder(links, link, node, steps)
                                if later is not None:  # hold it from now on, until ``later``
                                    held_node = held.node = node
                                    held.link, last = link, later
                        elif users:
                            node._users = 0
                            if node._started_by_users:
                                node._started_by_users = False
                                if node._active:
                                    node._active = False
                                    stopped = True
                                    node.on_shutdown()
                    finally:
                        lock.release()
                    if listened and stopped:
                        stats = link._stats
                        hub = stats.hub  # checked here: at shutdown a call per node costs more
                        if hub is not None and hub.active:
                            stats.node_changed(node, False)
                except Exception as error:
                    _LOGGER.error("on_shutdown of %r failed in %r: %r", node, link, error, exc_info=True)
                    first = first or error
                except BaseException as error:  # noqa: B036 - raised below, once every link stopped
                    interrupt = interrupt or error
            if first is not None and not link._ignore_exceptions:
                failed(link, first)
    finally:
        del HELD_RELEASES[ident]
        if held.owed:  # another thread stopped the last of these links, or the loop was cut short
            link = held.link
            try:
                if held_node._release(held.owed) is True:
                    _report_stopped(link, held_node)
            except Exception as error:  # noqa: BLE001 - as for any node above
                _LOGGER.error("on_shutdown of %r failed in %r: %r", held_node, link, error, exc_info=True)
                if not link._ignore_exceptions:
                    failed(link, error)
    if interrupt is not None:
        raise interrupt


def _keep_acquired(link: Link, acquired: list, nodes: Sequence[Any]) -> bool:
    """Add ``nodes`` (just acquired) to ``acquired`` if that is still ``link._acquired``: False
    if a stop took the list meanwhile (then the caller releases them).

    A stop by hand takes the list under the same lock (:func:`_take_acquired`). A planner's
    shutdown takes it without (a lock per link was 13 % of P2's teardown), then waits for the
    lock only if ``_CHANGING_IN`` names another thread: a start that sets it after the list was
    taken sees it taken, and one that set it before ends (its nodes added) before the shutdown
    goes over the list.
    """
    global _CHANGING_IN
    with _ACQUIRED_LOCK:
        _CHANGING_IN = get_ident()
        try:
            kept = link._acquired is acquired
            if kept:
                acquired.extend(nodes)
        finally:
            _CHANGING_IN = None
    return kept


def _take_acquired(link: Link) -> Sequence[Any]:
    """A stop by hand: the nodes ``link`` acquired, its list left empty and ``()`` in its place.

    Emptied, not only replaced: a planner's shutdown that read the list just before (it takes
    it without the lock; see :func:`_keep_acquired`) then finds nothing left to release in it.
    """
    global _CHANGING_IN
    with _ACQUIRED_LOCK:
        _CHANGING_IN = get_ident()
        try:
            acquired = link._acquired
            link._acquired = ()
            if not acquired:
                return ()
            taken = acquired[:]
            acquired.clear()
        finally:
            _CHANGING_IN = None
    return taken


def _changes_ended() -> None:
    """Wait until no other thread is in :func:`_keep_acquired` or :func:`_take_acquired`."""
    with _ACQUIRED_LOCK:
        pass


def _last_holder(links: Sequence[Link], link: Link, node: Any, steps: int) -> Tuple[Any, int]:
    """``(the last of links after link that holds node, steps left)``, or ``(None, steps left)``.

    ``shutdown_links`` holds ``node`` until that link, which makes the releases
    it counted: from there on the node's count of users is true, so a link
    elsewhere (another planner's, stopped by another thread) that is its last
    user stops it there. Looked for from the end (10,000 links sharing an
    outlet: one step) through at most ``steps`` links, given for the whole
    shutdown, so that many nodes with no later holder cost one walk, not one
    each. Compared by identity: nodes equal to each other are still told apart.
    """
    for later in reversed(links):
        if later is link or not steps:
            break
        steps -= 1
        for held in getattr(later, "_acquired", ()):  # a link whose __init__ skipped Link's has none
            if held is node:
                return later, steps
    return None, steps


def _report_stopped(link: Link, node: Any) -> None:
    """``link``'s release stopped ``node``: the node_shut_down event, if anyone listens."""
    stats = link._stats
    hub = stats.hub  # checked here: at shutdown a call per node costs more
    if hub is not None and hub.active:
        stats.node_changed(node, False)
