"""One transfer of a link, written once and driven either sync or async.

:func:`transfer_steps` is a generator holding the whole pipeline (pull →
link processors → groupers → per batch: copy → outlet processors → push). It
yields each group of calls that should run concurrently and receives their
outcomes; :func:`run_sync` drives it on threads (no event loop at all) and
:func:`run_async` on an asyncio loop when a node is a coroutine.
"""

from __future__ import annotations

from ._concurrency import run_on_loop, run_on_threads, run_on_threads_timed
from ._copy import _IMMUTABLE
from ._coroutines import _NEVER_AWAITABLE, is_awaitable, run_coroutine
from ._log import get_logger
from ._validation import check_processor_result, short_repr
from .record import Record, _copy_each_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Generator, List, Optional, Sequence, Tuple

    from ._concurrency import Call, Outcome
    from .inlet import Inlet
    from .link import Link
    from .outlet import Outlet
    from .update import Update

    Steps = Generator[Tuple[Sequence[Call], Optional[int]], List[Outcome], None]

_LOGGER = get_logger("databay.Link")

DELIVERY_COUNTS = ("refused", "rejected", "dropped", "expired", "abandoned", "retried",
                   "dead_lettered", "lost")
"""What ``Link.delivery_counts`` counts (see there)."""
#: Every link's counts until its first (see :func:`note`): shared, so only read, never changed.
NO_COUNTS = dict.fromkeys(DELIVERY_COUNTS, 0)


def transfer_steps(link: Link, update: Update, *, flush: bool = False,
                   replay: Optional[Tuple[List[Record], List[int]]] = None) -> Steps:
    """The pipeline of one transfer; ``flush`` skips the pull and releases held records.

    ``replay`` (records and journal rows an earlier run left) takes the place
    of the pull. A failing node never keeps other records from other outlets:
    every stage runs to the end, and only then, without ``ignore_exceptions``,
    the first error is raised (:class:`_Failures`). The delivery stages (retry
    queues, dead letter, journal, acknowledgements: ``_delivery``) run only
    for a link that has them.
    """
    failures = _Failures(link, update)
    delivery = link._delivery if link._delivery is not None or not link._acks else link._ensure_delivery()
    tracking = delivery is not None and (delivery.journal is not None or link._acks)
    pulled: List[Inlet] = []
    if flush:
        records: List[Record] = []
        _request_flush(link.processors, every_buffer=True)  # an empty one may receive released records
    elif replay is not None:
        records = replay[0]
        _request_flush(link.processors, every_buffer=True)  # replayed records go out now
    else:
        inlets: List[Inlet] = link._inlets  # replaced, never mutated, by add/remove: a snapshot
        stats = link._stats
        stats.run += 1
        if len(inlets) == 1:  # the common link, without building a list by comprehension
            inlet = inlets[0]
            pulls = [(inlet.pull, (update,), inlet._uses_coroutine, inlet)]
        else:
            pulls = [(inlet.pull, (update,), inlet._uses_coroutine, inlet) for inlet in inlets]
        outcomes = yield pulls, link.inlet_concurrency
        records = []
        for inlet, (ok, value) in zip(inlets, outcomes):
            if ok:
                try:
                    records.extend(inlet._to_records(value))
                    if tracking:
                        pulled.append(inlet)
                    continue
                except Exception as error:  # noqa: BLE001 - a broken new_record override
                    value = error
            _pull_failed(failures, inlet, value)
        stats.pulled += len(records)
    # A delivery pass tracks Buffers, queues, journal and acknowledgements; a link whose
    # only options are retry / dead_letter and whose queues are empty (the healthy path)
    # pushes like a plain link, and starts a pass only if a push fails.
    current = None
    if tracking or (delivery is not None and delivery.busy()):
        current = delivery.begin(update, records, pulled, None if replay is None else replay[1], failures)

    processors, groupers = link._pipeline()
    if processors:
        records = _apply(failures, "processor", processors, records, check_processor_result)
    batches = [records]
    if groupers:
        batches = _apply(failures, "grouper", groupers, batches, _check_batches)

    for batch in batches:
        outlets: Sequence[Outlet] = link._outlets
        partial = flush or replay is not None  # not every outlet gets the batch: counted per outlet
        if partial:  # outlet Buffers release, also those only now receiving
            outlets = tuple(outlet for outlet in outlets
                            if _request_flush(outlet.processors, every_buffer=bool(batch)) or batch)
        if not outlets:
            continue
        copy = link._copy_records
        size = len(batch)  # before the push: an outlet may empty the list it is given
        if current is None and delivery is None:
            if len(outlets) == 1:
                pushes = [(_deliver, (outlets[0], batch, update, copy), outlets[0]._uses_coroutine,
                           outlets[0])]
            else:
                pushes = [(_deliver, (outlet, batch, update, copy), outlet._uses_coroutine, outlet)
                          for outlet in outlets]
            outcomes = yield pushes, None
            link._stats.pushed(outlets, outcomes, size, partial)  # all counted before a failure is logged
            for outlet, (ok, value) in zip(outlets, outcomes):
                if not ok:
                    _refused(link, failures, outlet, size, update, value)
        elif current is None:  # the healthy path of a retry / dead_letter link
            prepared: Dict[int, List[Record]] = {}  # id(outlet) -> its batch as pushed
            outcomes = yield [(_deliver, (outlet, batch, update, copy, prepared), outlet._uses_coroutine,
                               outlet) for outlet in outlets], None
            link._stats.pushed(outlets, outcomes, size, partial)
            for outlet, (ok, value) in zip(outlets, outcomes):
                if not ok:
                    if current is None:
                        current = delivery.begin(update, [], [], None, failures)
                    delivery.push_failed(current, outlet, prepared.get(id(outlet)), batch, update, value,
                                         failures)
        else:
            yield from _turns(link, delivery, current, failures, outlets, batch, update, flush)
    if current is not None:
        assert delivery is not None
        yield from _turns(link, delivery, current, failures, (), None, update, flush)
        if current.dead:
            yield from _dead_letter_stage(link, delivery, current, failures)
        delivery.settle(current)
    if failures.first is not None:
        failures.raise_first()


def transfer_plain(link: Link, inlet: Inlet, outlet: Outlet, label: Optional[str], update: Update) -> None:
    """One transfer of a *plain* link, without the generator of :func:`transfer_steps`.

    A plain link (see ``Link._plain``) has one sync inlet, one sync outlet,
    no link processors or groupers, no delivery state and no timeout: the
    pipeline then is pull → records → copy → outlet processors → push, all in
    this thread. The steps are the ones :func:`transfer_steps` and
    :func:`run_sync` take for such a link, and so are the failure paths
    (:func:`_pull_failed`, :func:`_refused`): a failing pull still pushes
    an empty batch, a failing push is counted and reported, and the first
    failure is raised at the end unless ``ignore_exceptions``.

    ``label`` is the inlet's fixed ``str()`` (``Inlet._fixed_label``) or None.
    With it, a pull returning one immutable value (the usual int, str...) and
    an inlet without metadata, the record is built here, and with no outlet
    processors it goes to the outlet as it is, also with ``copy_records``:
    the record and its metadata dict were made by this transfer, hold only
    immutable values, and go to one outlet, so nothing else can see them and
    a deep copy would be indistinguishable from them.
    """
    stats = link._stats
    stats.run += 1
    timed = stats.call_timed if stats.running else None  # a planner runs it: time node calls (_stats.py)
    failures = None
    records: List[Record] = []
    batch = None  # the batch as pushed, when built here
    try:
        value = inlet.pull(update) if timed is None else timed(inlet, inlet.pull, update)
        if type(value) not in _NEVER_AWAITABLE and is_awaitable(value):
            value = run_coroutine(value)
    except BaseException as error:  # noqa: BLE001 - run_sync's outcome (False, error)
        failures = _Failures(link, update)
        _pull_failed(failures, inlet, error)
    else:
        metadata = inlet._metadata  # the caller's mapping: only an empty plain dict is looked into
        if label is not None and type(value) in _IMMUTABLE and type(metadata) is dict and not metadata:
            records.append(Record(value, {"__inlet__": label}))  # what _to_records builds
            if not outlet.processors:
                batch = records  # nothing else holds this record or its dict: it is the copy
        else:
            try:
                records.extend(inlet._to_records(value))
            except Exception as error:  # noqa: BLE001 - a broken new_record override
                failures = _Failures(link, update)
                _pull_failed(failures, inlet, error)
    count = len(records)  # before the push: an outlet may empty the list it is given
    stats.pulled += count
    refused = None
    try:
        if batch is not None:
            result = outlet.push(batch, update) if timed is None else \
                timed(outlet, outlet.push, batch, update)
        elif timed is None:
            result = _deliver(outlet, records, update, link._copy_records)
        else:
            result = timed(outlet, _deliver, outlet, records, update, link._copy_records)
        if type(result) not in _NEVER_AWAITABLE and is_awaitable(result):
            run_coroutine(result)
    except BaseException as error:  # noqa: BLE001 - run_sync's outcome (False, error)
        refused = error
    stats.batches += 1  # as LinkStats.pushed counts a batch, inline: the common case
    stats.handed += count
    if refused is not None:
        stats.undelivered(outlet, count, refused)  # before _refused logs: delivered never goes down
        if failures is None:
            failures = _Failures(link, update)
        _refused(link, failures, outlet, count, update, refused)
    if failures is not None:
        failures.raise_first()


def _pull_failed(failures: _Failures, inlet: Inlet, error: BaseException) -> None:
    """``inlet``'s pull (or turning its result into records) raised ``error``: it gives no records."""
    failures.add("inlet", inlet, error)


def _refused(link: Link, failures: _Failures, outlet: Outlet, size: int, update: Update,
             error: BaseException) -> None:
    """An outlet without delivery options did not take a ``size``-record batch (``size`` counted
    before the push: an outlet may empty the list and then raise): count it, report the error."""
    from .errors import RejectedRecords

    if isinstance(error, RejectedRecords):  # a verdict, not a failure: logged, not raised
        lose(link, "rejected", len(error.records))
        _LOGGER.warning("%r: %d record(s) rejected by %r during update %s and lost (no dead_letter): %s",
                        link, len(error.records), outlet, update, error.reason)
        return
    failures.add("outlet", outlet, error)
    uncopyable = getattr(error, "databay_uncopyable", None)
    lose(link, "refused", size if uncopyable is None else len(uncopyable))


def _turns(link: Link, delivery: Any, current: Any, failures: _Failures, outlets: Sequence[Outlet],
           batch: Optional[List[Record]], update: Update, flush: bool) -> Steps:
    """Every outlet's turn at ``batch`` through its retry queue; with ``batch=None``, the queues
    that are due (all of them when ``flush``) of outlets that got no batch in this pass."""
    from ._delivery import run_turn, run_turn_async, turn_steps

    if batch is None:
        now = delivery.clock()
        turned = current.turned
        outlets = [queue.outlet for queue in delivery.live_queues()
                   if queue.entries and id(queue.outlet) not in turned
                   and (flush or delivery.due(queue, now))
                   and any(queue.outlet is outlet for outlet in link._outlets)]
        if not outlets:
            return
    else:
        current.turned.update(id(outlet) for outlet in outlets)
    copy = link._copy_records
    calls: List[Any] = []
    for outlet in outlets:
        steps = turn_steps(delivery, delivery.queue_for(outlet), outlet, batch, update, copy, flush,
                           current.low)
        if outlet._uses_coroutine:
            calls.append((run_turn_async, (steps, outlet.push), True, outlet))
        else:
            calls.append((run_turn, (steps, outlet.push), False, outlet))
    outcomes = yield calls, None
    for outlet, (ok, value) in zip(outlets, outcomes):
        if ok:
            delivery.absorb(current, value, failures)
            link._stats.outlet_delivered(outlet, value.delivered)
        else:  # the turn itself failed: abandoned after a timeout, or a BaseException
            if getattr(value, "abandoned", False):
                current.abandoned = True
            failures.add("outlet", outlet, value)


def _dead_letter_stage(link: Link, delivery: Any, current: Any, failures: _Failures) -> Steps:
    """Push what no outlet will take to the dead letter; if that fails too, it is lost."""
    letters = delivery.dead_letters(current)
    current.dead = []
    outlet = delivery.dead_letter
    outcomes = yield [(outlet._process_and_push, (letters, current.update), outlet._uses_coroutine,
                       outlet)], None
    ok, value = outcomes[0]
    if ok:
        note(link, "dead_lettered", len(letters))
        return
    note(link, "lost", len(letters))
    current.lost = True
    failures.add("dead letter", outlet, value)


def run_sync(steps: Steps, timeout: Optional[float] = None, link: Optional[Link] = None,
             update: Any = None, deadline: Optional[float] = None) -> None:
    """Drive ``steps`` with plain calls and threads; no event loop is created.

    ``timeout`` limits each node call (see :func:`run_on_threads_timed`);
    ``deadline`` (``time.monotonic()``) shortens it so the whole run ends by then.
    """
    outcomes: Any = None
    send = steps.send
    timed = timeout is not None or deadline is not None
    while True:
        try:
            calls, limit = send(outcomes)
        except StopIteration:
            return
        if timed:
            assert link is not None
            outcomes = run_on_threads_timed(calls, limit, _limit(timeout, deadline),
                                            link._abandoned_calls(), update)
        else:
            outcomes = run_on_threads(calls, limit)  # one call: plain, in this thread


async def run_async(steps: Steps, timeout: Optional[float] = None, link: Optional[Link] = None,
                    update: Any = None, deadline: Optional[float] = None) -> None:
    """Drive ``steps`` on the running event loop (same arguments as :func:`run_sync`)."""
    outcomes: Any = None
    while True:
        try:
            calls, limit = steps.send(outcomes)
        except StopIteration:
            return
        if timeout is None and deadline is None:
            outcomes = await run_on_loop(calls, limit)
        else:
            assert link is not None
            outcomes = await run_on_loop(calls, limit, _limit(timeout, deadline), link._abandoned_calls(),
                                         update)


def _limit(timeout: Optional[float], deadline: Optional[float]) -> float:
    """The time one node call may take now: ``timeout``, cut to what is left before ``deadline``."""
    if deadline is None:
        assert timeout is not None
        return timeout
    import time

    left = max(deadline - time.monotonic(), 0.001)
    return left if timeout is None else min(timeout, left)


def is_flushable(processor: Callable) -> bool:
    """Whether ``processor`` follows the flush protocol (e.g. a Buffer).

    The protocol: a class attribute ``databay_flushable = True``, a ``records``
    list of what it holds, and a ``flush`` flag that, once True, makes the next
    call release everything. Opt-in, so a processor that merely happens to have
    ``records`` and ``flush`` attributes is never touched.
    """
    return getattr(type(processor), "databay_flushable", False) is True


def holds_records(processor: Callable) -> bool:
    """Whether ``processor`` is a flushable processor holding records back."""
    return is_flushable(processor) and bool(getattr(processor, "records", None))


def _request_flush(processors: Sequence[Callable], every_buffer: bool = False) -> bool:
    """Ask every holding processor to release on its next call; True if any holds.

    With ``every_buffer``, also flag the empty Buffer-like ones (they will be
    called with what an upstream Buffer releases, and must pass it on).
    """
    holding = False
    for processor in processors:
        if holds_records(processor):
            holding = True
        elif not (every_buffer and is_flushable(processor)):
            continue
        processor.flush = True  # type: ignore[attr-defined]
    return holding


def _deliver(outlet: Outlet, batch: List[Record], update: Update, copy: bool,
             prepared: Optional[Dict[int, List[Record]]] = None) -> Any:
    """One outlet's share of a batch: :func:`prepare_batch`, then ``push``.

    Records that cannot be copied fail this call, after the others were pushed.
    ``prepared`` receives the batch as pushed (a retry queue keeps it if the push fails).
    """
    batch, copy_error = prepare_batch(outlet, batch, update, copy)
    if prepared is not None:
        prepared[id(outlet)] = batch
    result = outlet.push(batch, update)
    if copy_error is None:
        return result
    if is_awaitable(result):
        return _then_raise(result, copy_error)
    raise copy_error


async def _then_raise(awaitable: Any, error: Exception) -> None:
    await awaitable
    raise error


def prepare_batch(outlet: Outlet, batch: List[Record], update: Update,
                  copy: bool) -> Tuple[List[Record], Optional[Exception]]:
    """The batch as ``outlet`` pushes it: its own deep copy (``copy``), through its processors.

    Every outlet copies for itself, inside its own call: no outlet takes the
    original (the inlet, a Buffer or another batch may still hold its objects).
    A record that cannot be copied fails alone: the others still go out, and
    the returned TypeError (listing the originals in ``databay_uncopyable``)
    fails this outlet's call afterwards.
    """
    copy_error = None
    if copy:
        original = batch
        batch, failed = _copy_each_record(batch)
        if failed:  # the copyable records still go out; the others fail this outlet's call
            index, error = failed[0]
            copy_error = TypeError(
                "copy_records=True, but %d record(s) of the batch for %r cannot be deep-copied and "
                "were not delivered (record %d: %s: %s); the other %d were; make the payloads "
                "copyable or use Link(copy_records=False)"
                % (len(failed), outlet, index, type(error).__name__, error, len(batch)))
            copy_error.databay_uncopyable = [original[i] for i, _ in failed]  # type: ignore[attr-defined]
    for processor in outlet.processors:
        batch = processor(batch)
        check_processor_result(processor, batch, owner=outlet)
    return batch, copy_error


def _apply(failures: _Failures, kind: str, functions: Sequence[Callable], value: Any,
           check: Callable[[Callable, Any], None]) -> Any:
    """Thread ``value`` through processors or groupers; a failing one is skipped."""
    for function in functions:
        try:
            result = function(value)
            check(function, result)
        except Exception as error:  # noqa: BLE001 - reported by failures
            failures.add(kind, function, error)
            continue
        value = result
    return value


def _check_batches(grouper: Callable, result: Any) -> None:
    if not isinstance(result, list) or not all(isinstance(batch, list) for batch in result):
        raise TypeError("grouper %r returned %s; a grouper must return a list of lists of records"
                        % (grouper, short_repr(result)))


class _Failures:
    """The node failures of one transfer: logged as they happen, the first raised at the end.

    Exceptions other than ``Exception`` (KeyboardInterrupt, SystemExit) are
    raised at once. With ``ignore_exceptions`` every failure is logged; without
    it the first is kept to be raised once the transfer delivered what it
    could (its caller reports it), and the others are logged. Logging goes
    through the link's :class:`RepeatLimiter`, so a node failing the same way
    on every transfer prints one traceback and then a summary per minute.
    """

    __slots__ = ("link", "update", "first")

    def __init__(self, link: Link, update: Update) -> None:
        self.link = link
        self.update = update
        self.first: Optional[BaseException] = None  # raised at the end, its origin in link._failed_at

    def add(self, kind: str, node: Any, error: BaseException, update: Optional[Update] = None) -> None:
        """``node`` failed (during ``update``, by default this transfer's)."""
        self.link._stats.node_failed(kind, node, error)
        if not isinstance(error, Exception):
            raise error
        if self.first is None and not self.link._ignore_exceptions:
            self.first = error
            # Whoever catches it (a planner) can log it like any node failure: see report_raised.
            self.link._failed_at = (kind, node, self.update if update is None else update, error)
            return
        log_failure(self.link, kind, node, self.update if update is None else update, error)

    def raise_first(self) -> None:
        if self.first is not None:
            error, self.first = self.first, None
            raise error


def note(link: Link, event: str, count: int) -> None:
    """Count ``count`` records of ``link`` under ``event`` (one of :data:`DELIVERY_COUNTS`).

    The one place where records that were not delivered normally are counted.
    """
    link._stats.records_noted(event, count)
    counts = link._counts
    if counts is NO_COUNTS:  # the shared zeros a link starts with: its first count makes its own
        counts = link._own_counts()
    counts[event] += count
    link._stats.records_counted()


def lose(link: Link, reason: str, count: int) -> None:
    """Count ``count`` records that left ``link`` undelivered (``reason``: refused, rejected...)."""
    note(link, reason, count)
    note(link, "lost", count)


def report_raised(link: Link, error: BaseException) -> bool:
    """Log ``error``, raised out of a transfer of ``link``, as the node failure it came from.

    For a caller that catches the error and carries on (a planner with
    ``ignore_exceptions``): it goes through the link's repeat limiter, naming
    link, node and update. False if ``error`` did not come from a node.
    """
    origin = getattr(link, "_failed_at", None)
    if origin is None or origin[3] is not error:
        return False
    kind, node, update, _ = origin
    log_failure(link, kind, node, update, error)
    return True


def log_failure(link: Link, kind: str, node: Any, update: Update, error: BaseException,
                retrying: bool = False) -> None:
    """Log that ``node`` (an inlet, processor, grouper or outlet of ``link``) failed during ``update``.

    ``retrying``: the records wait in a retry queue, so it is a warning.
    """
    import logging

    if retrying:
        link._failure_log().log((kind, id(node), type(error), str(error)), logging.WARNING,
                                "%s %r of %r failed", (kind.capitalize(), node, link),
                                "to push update %s (queued for retry): %r", (update, error),
                                exc_info=error)
        return
    link._failure_log().log((kind, id(node), type(error), str(error)), logging.ERROR,
                            "%s %r of %r failed", (kind.capitalize(), node, link),
                            "during update %s: %r", (update, error), exc_info=error)
