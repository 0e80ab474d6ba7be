"""One transfer of a link, written once and driven either sync or async.

:func:`transfer_steps` is a generator holding the whole pipeline (pull →
link processors → groupers → per batch: copy → outlet processors → push). It
yields each group of calls that should run concurrently and receives their
outcomes; :func:`run_sync` drives it on threads (no event loop at all) and
:func:`run_async` on an asyncio loop when a node is a coroutine.
"""

from __future__ import annotations

from ._concurrency import run_on_loop, run_on_threads
from ._log import get_logger
from ._validation import check_processor_result, short_repr
from .record import _copy_each_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Generator, List, Optional, Sequence, Tuple

    from ._concurrency import Call, Outcome
    from .inlet import Inlet
    from .link import Link
    from .outlet import Outlet
    from .record import Record
    from .update import Update

    Steps = Generator[Tuple[Sequence[Call], Optional[int]], List[Outcome], None]

_LOGGER = get_logger("databay.Link")

DELIVERY_COUNTS = ("refused", "lost")
"""What ``Link.delivery_counts`` counts (see there)."""


def transfer_steps(link: Link, update: Update, *, flush: bool = False) -> Steps:
    """The pipeline of one transfer; ``flush`` skips the pull and releases held records.

    A failing node never keeps other records from other outlets: every stage
    runs to the end, and only then, without ``ignore_exceptions``, the first
    error is raised (:class:`_Failures`).
    """
    failures = _Failures(link, update)
    if flush:
        records: List[Record] = []
        _request_flush(link.processors, every_buffer=True)  # an empty one may receive released records
    else:
        inlets: List[Inlet] = link._inlets  # replaced, never mutated, by add/remove: a snapshot
        outcomes = yield [(inlet.pull, (update,), inlet._uses_coroutine) for inlet in inlets], \
            link.inlet_concurrency
        records = []
        for inlet, (ok, value) in zip(inlets, outcomes):
            if ok:
                try:
                    records.extend(inlet._to_records(value))
                    continue
                except Exception as error:  # noqa: BLE001 - a broken new_record override
                    value = error
            failures.add("inlet", inlet, value)

    if link.processors:
        records = _apply(failures, "processor", link.processors, records, check_processor_result)
    batches = [records]
    if link.groupers:
        batches = _apply(failures, "grouper", link.groupers, batches, _check_batches)

    for batch in batches:
        outlets: Sequence[Outlet] = link._outlets
        if flush:  # outlet Buffers release too, also those that only now receive records
            outlets = tuple(outlet for outlet in outlets
                            if _request_flush(outlet.processors, every_buffer=bool(batch)) or batch)
        if not outlets:
            continue
        copy = link._copy_records
        outcomes = yield [(_deliver, (outlet, batch, update, copy), outlet._uses_coroutine)
                          for outlet in outlets], None
        for outlet, (ok, value) in zip(outlets, outcomes):
            if not ok:
                failures.add("outlet", outlet, value)
                lose(link, "refused", len(batch))
    failures.raise_first()


def run_sync(steps: Steps) -> None:
    """Drive ``steps`` with plain calls and threads; no event loop is created."""
    outcomes: Any = None
    while True:
        try:
            calls, limit = steps.send(outcomes)
        except StopIteration:
            return
        outcomes = run_on_threads(calls, limit)


async def run_async(steps: Steps) -> None:
    """Drive ``steps`` on the running event loop."""
    outcomes: Any = None
    while True:
        try:
            calls, limit = steps.send(outcomes)
        except StopIteration:
            return
        outcomes = await run_on_loop(calls, limit)


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


def _deliver(outlet: Outlet, batch: List[Record], update: Update, copy: bool) -> Any:
    """One outlet's share of a batch: its own deep copy (``copy``), its processors, ``push``.

    Every outlet copies for itself, inside its own call: no outlet takes the
    original (the inlet, a Buffer or another batch may still hold its objects),
    and a batch that cannot be copied fails this outlet only, reported like
    any other outlet error.
    """
    if copy:
        batch, failed = _copy_each_record(batch)
        if failed:  # the copyable records still go out; the others fail this outlet's call
            outlet._process_and_push(batch, update)
            index, error = failed[0]
            raise TypeError("copy_records=True, but %d record(s) of the batch for %r cannot be "
                            "deep-copied and were not delivered (record %d: %s: %s); the other "
                            "%d were; make the payloads copyable or use "
                            "Link(copy_records=False)" % (len(failed), outlet, index,
                                                          type(error).__name__, error, len(batch)))
    return outlet._process_and_push(batch, update)


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
        self.first: Optional[BaseException] = None

    def add(self, kind: str, node: Any, error: BaseException) -> None:
        if not isinstance(error, Exception):
            raise error
        if self.first is None and not self.link._ignore_exceptions:
            self.first = error
            return
        log_failure(self.link, kind, node, self.update, error)

    def raise_first(self) -> None:
        if self.first is not None:
            error, self.first = self.first, None
            raise error


def lose(link: Link, reason: str, count: int) -> None:
    """Count ``count`` records that left ``link`` undelivered (``reason``: refused, dropped...)."""
    counts = link._counts
    counts[reason] += count
    counts["lost"] += count


def log_failure(link: Link, kind: str, node: Any, update: Update, error: BaseException) -> None:
    """Log that ``node`` (an inlet, processor, grouper or outlet of ``link``) failed during ``update``."""
    import logging

    link._failure_log().log((kind, id(node), type(error), str(error)), logging.ERROR,
                            "%s %r of %r failed", (kind.capitalize(), node, link),
                            "during update %s: %r", (update, error), exc_info=error)
