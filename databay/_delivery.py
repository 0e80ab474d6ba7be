"""The delivery stages of a transfer: retry queues, dead letters, the journal, acknowledgements.

A :class:`Delivery` exists only for a link that asked for one of these (or
whose inlets implement ``on_delivered``); the transfer pipeline in
``_transfer`` calls it at fixed points:

``begin``   after the pull: journal the pulled records, acknowledge them if safe;
``turn``    one outlet's share of a batch, through its retry queue (:func:`turn_steps`);
``settle``  at the end: note which Buffers hold records, update the journal,
            acknowledge pulls whose records are all safe.

Where records can go: pushed (delivered), rejected by the outlet
(:class:`~databay.errors.RejectedRecords`), refused by a failing push with no
retry, dropped from a full queue, expired after the last attempt, or left
behind at shutdown. All but the first go to the dead letter when there is one
and are otherwise counted as lost; :func:`note` is the one place counting them.
"""

from __future__ import annotations

import collections
import threading

from ._concurrency import call
from ._log import get_logger
from ._stats import taken
from ._transfer import holds_records, is_flushable, note, prepare_batch
from .errors import RejectedRecords
from .record import Record
from .retry import Retry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Deque, Dict, Generator, List, Optional, Tuple

    from ._journal import Journal
    from .inlet import Inlet
    from .link import Link
    from .outlet import Outlet
    from .update import Update

    DeadLetter = Tuple[List[Record], str, str, Any, Any]  # records, reason, detail, outlet, update

_LOGGER = get_logger("databay.Link")

DEAD_LETTER_KEY = "__dead_letter__"
"""Metadata key under which a dead-lettered record says why it is there."""


class Entry:
    """One batch waiting in an outlet's retry queue."""

    __slots__ = ("records", "update", "attempts", "journal_id", "origin", "done", "queued_at")

    def __init__(self, records: List[Record], update: Any, attempts: int, origin: int,
                 queued_at: Optional[float] = None, journal_id: Optional[int] = None) -> None:
        self.records = records
        self.update = update
        self.attempts = attempts  # pushes tried so far
        self.origin = origin  # the oldest transfer whose pulls may have fed it
        self.queued_at = queued_at  # Delivery.clock() when it entered the queue (or was restored)
        self.journal_id = journal_id
        self.done = False  # left the queue (delivered, dropped...): never journal it


class OutletQueue:
    """The retry queue of one outlet of one link: batches in order, bounded by ``max_pending``."""

    def __init__(self, outlet: Outlet, retry: Retry, key: str) -> None:
        self.outlet = outlet
        self.retry = retry
        self.key = key  # names the outlet in the journal
        self.entries: Deque[Entry] = collections.deque()
        self.pending = 0  # records in entries
        self.failures = 0  # consecutive failed attempts
        self.next_attempt = 0.0
        self.episode_dropped = 0  # records dropped since the queue last overflowed from empty
        self.lock = threading.Lock()
        # journal work, done by the next settle (only when ``journaled``)
        self.journaled = False
        self.unjournaled: List[Entry] = []
        self.rewritten: List[Entry] = []
        self.deleted: List[int] = []

    def oldest_age(self, clock: Any) -> Optional[float]:
        """Seconds the head of the queue (its oldest batch) has waited on ``clock``; None if empty
        (or not known).

        Lock-free, for stats read from another thread: the head may leave meanwhile.
        """
        entries = self.entries
        try:
            head = entries[0]
        except IndexError:
            return None
        queued_at = head.queued_at
        return None if queued_at is None else max(clock() - queued_at, 0.0)


class Turn:
    """What one outlet's turn in a transfer did; read by the pipeline once it returned."""

    __slots__ = ("outlet", "errors", "dead", "lost", "delivered")

    def __init__(self, outlet: Outlet) -> None:
        self.outlet = outlet
        self.delivered = 0  # records pushed successfully (for stats)
        self.errors: List[Tuple[BaseException, Any, bool]] = []  # (error, update, retried) to report
        self.dead: List[DeadLetter] = []
        self.lost = False  # records of this turn left the link undelivered and not dead-lettered


class Pass:
    """The bookkeeping of one run of the pipeline (a transfer, flush or replay)."""

    __slots__ = ("update", "low", "row_low", "rows", "lost", "dead", "abandoned", "turned")

    def __init__(self, update: Update, low: int, row_low: Optional[int]) -> None:
        self.update = update
        self.low = low  # the oldest transfer whose records this pass may carry
        self.row_low = row_low  # the oldest journal row whose records this pass may carry
        self.rows: List[int] = []
        self.lost = False
        self.dead: List[DeadLetter] = []
        self.abandoned = False
        self.turned: set = set()  # id() of the outlets that had a turn in this pass


class Delivery:
    """Retry queues, dead letter, journal and acknowledgements of one link."""

    def __init__(self, link: Link, retry: Any, dead_letter: Optional[Outlet],
                 journal_path: Optional[str]) -> None:
        self.link = link
        self.retry = retry  # None, a Retry, or {outlet or None: Retry or None}
        self.dead_letter = dead_letter
        self.journal_path = journal_path
        self.journal: Optional[Journal] = None
        self.name = ""
        self.queues: Dict[int, Optional[OutletQueue]] = {}  # id(outlet) -> its queue (None: no retry)
        self.live: List[OutletQueue] = []  # the queues that exist
        self.clock = link._stats.clock  # backoff and queue ages: the planner's clock while one holds the link
        self.since: Dict[Any, Tuple[Any, int, Optional[int]]] = {}  # holder -> (holder, transfer, row)
        self.acks: Deque[Tuple[int, List[Inlet], Any]] = collections.deque()
        self.lost_from: Optional[int] = None  # acks of transfers >= this are never sent
        self.replay_pending = False
        self.row_high = 0  # the newest journal row of this link
        import random

        self.random = random.Random()

    # -- configuration ------------------------------------------------------

    def queue_for(self, outlet: Outlet) -> Optional[OutletQueue]:
        """The retry queue of ``outlet``, or None when it is not retried."""
        try:
            return self.queues[id(outlet)]
        except KeyError:
            pass
        policy = self.retry
        if isinstance(policy, dict):
            policy = policy[outlet] if outlet in policy else policy.get(None)
        queue = None
        if policy is not None:
            index = next(i for i, other in enumerate(self.link._outlets) if other is outlet)
            queue = OutletQueue(outlet, policy, "%d:%s" % (index, type(outlet).__qualname__))
            queue.journaled = self.journal_path is not None
            self.live = self.live + [queue]  # replaced, never mutated: readers need no lock
        self.queues[id(outlet)] = queue
        return queue

    def live_queues(self) -> List[OutletQueue]:
        return self.live

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> None:
        """Open the journal and load what an earlier run left (replayed before the first transfer)."""
        if self.journal_path is None or self.journal is not None:
            return
        from ._journal import Journal

        link = self.link
        self.name = link.key
        self.journal = Journal.acquire(self.journal_path, self.name, link)
        self.replay_pending = True

    def stop(self) -> None:
        """At shutdown: what is still queued stays in the journal, or is counted and logged as lost."""
        for queue in self.live_queues():
            with queue.lock:
                if not queue.entries:
                    continue
                batches, records = len(queue.entries), queue.pending
                if self.journal is None:
                    queue.entries.clear()
                    queue.pending = 0
            if self.journal is not None:
                _LOGGER.warning("%r: %d record(s) in %d batch(es) for %r stay in the journal %r "
                                "and are retried at the next start", self.link, records, batches,
                                queue.outlet, self.journal_path)
            else:
                note(self.link, "abandoned", records)
                note(self.link, "lost", records)
                _LOGGER.error("%r: %d record(s) in %d batch(es) for %r were never delivered and are "
                              "lost at shutdown (no journal)", self.link, records, batches, queue.outlet)
        if self.journal is not None:
            self._settle_journal(None)
            journal, self.journal = self.journal, None
            journal.release(self.name)
        self.replay_pending = False

    def take_replay(self) -> Tuple[List[Record], List[int]]:
        """Records the journal still holds from an earlier run, and their rows; restores retry queues."""
        from ._journal import load_batch, load_records

        self.replay_pending = False
        assert self.journal is not None
        pulled, queued = self.journal.pending(self.name)
        records: List[Record] = []
        rows = []
        for row, blob in pulled:
            records.extend(load_records(blob))
            rows.append(row)
        if rows:
            self.row_high = max(self.row_high, rows[-1])
        by_key = {queue.key: queue for queue in (self.queue_for(o) for o in self.link._outlets) if queue}
        stranded = 0
        restored_at = self.clock()  # the journal keeps no enqueue time: ages count from the restart
        for row, key, attempts, blob in queued:
            queue = by_key.get(key)
            if queue is None:
                stranded += 1
                continue
            update, batch = load_batch(blob)
            queue.entries.append(Entry(batch, update, attempts, 0, restored_at, journal_id=row))
            queue.pending += len(batch)
        if stranded:
            _LOGGER.warning("%r: the journal %r holds %d queued batch(es) for outlets this link no "
                            "longer has (or no longer retries); they stay there", self.link,
                            self.journal_path, stranded)
        if records or queued:
            _LOGGER.info("%r: replaying %d record(s) and %d queued batch(es) from the journal %r",
                         self.link, len(records), len(queued) - stranded, self.journal_path)
        return records, rows

    # -- the stages -----------------------------------------------------------

    def begin(self, update: Update, records: List[Record], pulled: List[Inlet],
              replayed_rows: Optional[List[int]], failures: Any) -> Pass:
        """After the pull: journal ``records``; acknowledge ``pulled`` inlets once their records are safe."""
        number = update.transfer_number
        low = min([number] + [item[1] for item in self.since.values()])
        rows = [item[2] for item in self.since.values() if item[2] is not None]
        current = Pass(update, low, None)
        journal = self.journal
        if journal is not None:
            if replayed_rows:
                current.rows = list(replayed_rows)
            elif records:
                from ._journal import dump_records

                try:
                    row = journal.append(self.name, dump_records(records))
                except Exception as error:  # noqa: BLE001 - e.g. a payload pickle cannot handle
                    failures.add("journal", journal.path, error)
                    pulled = []  # not safe: never acknowledged
                else:
                    current.rows = [row]
                    self.row_high = max(self.row_high, row)
            current.row_low = min(rows + current.rows[:1]) if rows or current.rows else None
            for inlet in pulled:  # safe in the journal
                _acknowledge(self.link, inlet, update, failures)
        elif pulled:
            self.acks.append((number, pulled, update))
        return current

    def absorb(self, current: Pass, turn: Turn, failures: Any) -> None:
        """Fold one outlet turn into the pass: report its errors, collect its dead letters."""
        for error, update, retried in turn.errors:
            if retried:  # the retry queue handles it: a warning, never raised
                from ._transfer import log_failure

                log_failure(self.link, "outlet", turn.outlet, update, error, retrying=True)
                self.link._stats.push_retrying(turn.outlet, error)
            else:
                failures.add("outlet", turn.outlet, error, update)
        current.dead.extend(turn.dead)
        if turn.lost:
            current.lost = True

    def dead_letters(self, current: Pass) -> List[Record]:
        """The records of ``current.dead`` for the dead letter, each saying why in its metadata."""
        letters = []
        for records, reason, detail, outlet, update in current.dead:
            why = {"reason": reason, "detail": detail, "outlet": repr(outlet), "link": repr(self.link),
                   "update": str(update)}
            for record in records:
                metadata = record.metadata if isinstance(record.metadata, dict) else {}
                letters.append(Record(record.payload, {**metadata, DEAD_LETTER_KEY: why}))
        return letters

    def settle(self, current: Pass) -> None:
        """At the end of a pass: Buffers, journal, acknowledgements."""
        since = self.since
        link = self.link
        if self.journal is None and not link._acks:  # nothing to account Buffers for
            if current.lost and self.acks:
                self.acks.clear()
            return
        for processor in _flushable(link):
            if holds_records(processor):
                if id(processor) not in since:
                    since[id(processor)] = (processor, current.low, current.row_low)
            else:
                since.pop(id(processor), None)
        for held in [held for held in since if isinstance(held, tuple) and held[1] not in link._abandoned]:
            del since[held]  # an abandoned call has returned
        if current.abandoned:
            for node in link._abandoned:
                since.setdefault(("abandoned", node), (None, current.low, current.row_low))
        if self.journal is not None:
            self._settle_journal(current)
        if current.lost and self.acks:
            self.lost_from = current.low if self.lost_from is None else min(self.lost_from, current.low)
        if self.acks:
            self._send_acks(current)

    def _settle_journal(self, current: Optional[Pass]) -> None:
        from ._journal import dump_batch

        assert self.journal is not None
        inserts: List[Tuple[Any, str, int, bytes]] = []
        rewrites: List[Tuple[int, int, bytes]] = []
        deletes: List[int] = []
        for queue in self.live_queues():
            with queue.lock:
                inserts.extend((entry, queue.key, entry.attempts, dump_batch(entry.update, entry.records))
                               for entry in queue.unjournaled if entry.journal_id is None and not entry.done)
                rewrites.extend((entry.journal_id, entry.attempts, dump_batch(entry.update, entry.records))
                                for entry in queue.rewritten if entry.journal_id is not None)
                deletes.extend(queue.deleted)
                queue.unjournaled, queue.rewritten, queue.deleted = [], [], []
        rows = [item[2] for item in self.since.values() if item[2] is not None]
        below: Optional[int] = min(rows) if rows else self.row_high + 1
        if current is None and rows:
            below = None  # shutdown with records still held: keep them all
        self.journal.settle(self.name, inserts, rewrites, deletes, below)

    def _send_acks(self, current: Pass) -> None:
        marks = [item[1] for item in self.since.values()]
        for queue in self.live_queues():
            entries = queue.entries
            if entries:
                marks.append(entries[0].origin)
        safe_below = min(marks) if marks else current.update.transfer_number + 1
        acks = self.acks
        while acks and acks[0][0] < safe_below:
            number, inlets, update = acks.popleft()
            if self.lost_from is not None and number >= self.lost_from:
                continue
            for inlet in inlets:
                _acknowledge(self.link, inlet, update, None)
        if not acks:
            self.lost_from = None

    def busy(self) -> bool:
        """Whether a retry queue holds batches (a transfer then runs the full delivery pass)."""
        for queue in self.live:
            if queue.entries:
                return True
        return False

    def push_failed(self, current: Pass, outlet: Outlet, processed: Optional[List[Record]],
                    batch: List[Record], update: Update, error: BaseException, failures: Any) -> None:
        """A push on the healthy path failed: what :func:`turn_steps` would have done after it.

        ``processed`` is the batch as pushed, or None if the outlet's processors
        failed before the push (then ``batch`` is refused, never retried).
        """
        turn = Turn(outlet)
        uncopyable = getattr(error, "databay_uncopyable", None)
        queue = self.queue_for(outlet)
        if processed is None or uncopyable is not None or not isinstance(error, Exception):
            turn.errors.append((error, update, False))  # a BaseException is raised by absorb
            _give_up(self, turn, batch if uncopyable is None else uncopyable, "refused", repr(error),
                     outlet, update)
        elif queue is None:
            _failed(self, turn, None, processed, update, error, outlet)
        else:
            with queue.lock:
                _first_push_failed(self, queue, turn, processed, update, error, current.low, self.clock())
        self.absorb(current, turn, failures)

    def due(self, queue: OutletQueue, now: float) -> bool:
        """Whether ``queue``'s retry is due at a transfer at ``now`` (up to one interval early)."""
        return queue.next_attempt <= now + (self.link._interval_seconds or 0.0)  # Cron: no interval


def _flushable(link: Link) -> List[Any]:
    found = [p for p in link.processors if is_flushable(p)]
    for outlet in link._outlets:
        found.extend(p for p in outlet.processors if is_flushable(p))
    return found


def _acknowledge(link: Link, inlet: Inlet, update: Any, failures: Any) -> None:
    """Call ``inlet.on_delivered(update)``; a failure is reported like the inlet's own."""
    ok, value = call(inlet.on_delivered, (update,))
    if ok:
        return
    if not isinstance(value, Exception):
        raise value
    if failures is not None:
        failures.add("inlet", inlet, value, update)
    else:
        from ._transfer import log_failure

        log_failure(link, "inlet", inlet, update, value)


# -- one outlet's turn ----------------------------------------------------------------------------

if TYPE_CHECKING:
    Push = Tuple[List[Record], Any]  # what to push: records and their update


def turn_steps(delivery: Delivery, queue: Optional[OutletQueue], outlet: Outlet,
               batch: Optional[List[Record]], update: Any, copy: bool, force: bool,
               origin: int) -> Generator[Push, Tuple[bool, Any], Turn]:
    """One outlet's share of a batch (``None``: only its retry queue), as a generator of pushes.

    Yields ``(records, update)`` to push and receives the push's outcome, so
    the same logic drives a ``def`` or an ``async def`` push. Runs the
    outlet's processors once per batch; a failed batch waits in ``queue`` as
    processed and is retried with ``push`` alone.
    """
    turn = Turn(outlet)
    processed: Optional[List[Record]] = None
    if batch is not None:
        try:
            processed, copy_error = prepare_batch(outlet, batch, update, copy)
        except Exception as error:  # noqa: BLE001 - an outlet processor failed
            turn.errors.append((error, update, False))
            _give_up(delivery, turn, batch, "refused", repr(error), outlet, update)
        else:
            if copy_error is not None:  # these records can never be copied: refused, not retried
                turn.errors.append((copy_error, update, False))
                _give_up(delivery, turn, copy_error.databay_uncopyable,  # type: ignore[attr-defined]
                         "refused", str(copy_error), outlet, update)
    if queue is None:
        if processed is not None:
            ok, value = yield processed, update
            if not ok:
                _failed(delivery, turn, None, processed, update, value, outlet)
            else:
                turn.delivered += len(processed)
        return turn
    now = delivery.clock()
    if queue.entries and (force or delivery.due(queue, now)):
        while queue.entries:
            entry = queue.entries[0]
            ok, value = yield entry.records, entry.update
            entry.attempts += 1
            note(delivery.link, "retried", len(entry.records))
            if not ok and not isinstance(value, RejectedRecords):
                if _expired(queue, entry):
                    _pop(queue, entry)
                    turn.errors.append((value, entry.update, True))
                    _give_up(delivery, turn, entry.records, "expired",
                             "%d attempt(s), last: %r" % (entry.attempts, value), outlet, entry.update)
                    continue
                if queue.journaled:
                    queue.rewritten.append(entry)  # its attempts changed
                _backoff(delivery, queue, now)
                turn.errors.append((value, entry.update, True))
                break
            _pop(queue, entry)
            queue.failures = 0
            turn.delivered += len(entry.records) if ok else taken(len(entry.records), value)
            if not ok:
                _rejected(delivery, turn, value, outlet, entry.update)
        if not queue.entries and queue.episode_dropped:
            _LOGGER.warning("%r: the retry queue of %r drained; %d record(s) were dropped while it "
                            "was full", delivery.link, outlet, queue.episode_dropped)
            queue.episode_dropped = 0
    if processed is None:
        return turn
    if queue.entries:
        if processed:
            _enqueue(delivery, queue, Entry(processed, update, 0, origin, now), turn)
        return turn
    ok, value = yield processed, update
    if not ok:
        _first_push_failed(delivery, queue, turn, processed, update, value, origin, now)
    else:
        turn.delivered += len(processed)
    return turn


def _first_push_failed(delivery: Delivery, queue: OutletQueue, turn: Turn, processed: List[Record],
                       update: Any, error: BaseException, origin: int, now: float) -> None:
    """The first push of ``processed`` failed: rejected records go, the batch waits in ``queue``."""
    outlet = queue.outlet
    if isinstance(error, RejectedRecords):
        turn.delivered += taken(len(processed), error)  # the rest of the batch was delivered
        _rejected(delivery, turn, error, outlet, update)
        return
    entry = Entry(processed, update, 1, origin, now)
    turn.errors.append((error, update, True))
    if _expired(queue, entry):
        _give_up(delivery, turn, processed, "expired", "1 attempt: %r" % (error,), outlet, update)
        return
    _enqueue(delivery, queue, entry, turn)
    _backoff(delivery, queue, now)


def _failed(delivery: Delivery, turn: Turn, queue: Optional[OutletQueue], records: List[Record],
            update: Any, error: BaseException, outlet: Outlet) -> None:
    """A push without retry failed: rejected records go to the dead letter, a failure refuses the batch."""
    if isinstance(error, RejectedRecords):
        turn.delivered += taken(len(records), error)  # the rest of the batch was delivered
        _rejected(delivery, turn, error, outlet, update)
        return
    turn.errors.append((error, update, False))
    _give_up(delivery, turn, records, "refused", repr(error), outlet, update)


def _rejected(delivery: Delivery, turn: Turn, error: RejectedRecords, outlet: Outlet, update: Any) -> None:
    if error.records:
        _give_up(delivery, turn, error.records, "rejected", error.reason, outlet, update)


def _give_up(delivery: Delivery, turn: Turn, records: List[Record], reason: str, detail: str,
             outlet: Outlet, update: Any) -> None:
    """``records`` will not be pushed: to the dead letter, or counted as lost."""
    if not records:
        return
    note(delivery.link, reason, len(records))
    if delivery.dead_letter is not None:
        turn.dead.append((records, reason, detail, outlet, update))
    else:
        note(delivery.link, "lost", len(records))
        turn.lost = True
        if reason in ("rejected", "expired"):
            _LOGGER.warning("%r: %d record(s) for %r %s during update %s (%s) and are lost "
                            "(no dead_letter)", delivery.link, len(records), outlet,
                            "were rejected" if reason == "rejected" else "ran out of attempts",
                            update, detail)


def _expired(queue: OutletQueue, entry: Entry) -> bool:
    attempts = queue.retry.attempts
    return attempts is not None and entry.attempts >= attempts


def _pop(queue: OutletQueue, entry: Entry) -> None:
    queue.entries.popleft()
    entry.done = True
    queue.pending -= len(entry.records)
    if entry.journal_id is not None and queue.journaled:
        queue.deleted.append(entry.journal_id)


def _backoff(delivery: Delivery, queue: OutletQueue, now: float) -> None:
    queue.failures += 1
    queue.next_attempt = now + queue.retry.delay(queue.failures, delivery.random.random())


def _enqueue(delivery: Delivery, queue: OutletQueue, entry: Entry, turn: Turn) -> None:
    """Append ``entry``; past ``max_pending`` drop the oldest records (dead letter or lost)."""
    limit = queue.retry.max_pending
    queue.entries.append(entry)
    queue.pending += len(entry.records)
    if queue.journaled:
        queue.unjournaled.append(entry)
    excess = queue.pending - limit
    if excess <= 0:
        return
    if not queue.episode_dropped:
        _LOGGER.warning("%r: the retry queue of %r is full (max_pending=%d); dropping the oldest "
                        "records until it drains", delivery.link, queue.outlet, limit)
    dropped: List[Tuple[List[Record], Any]] = []
    while excess > 0:
        head = queue.entries[0]
        if len(head.records) <= excess:
            _pop(queue, head)
            dropped.append((head.records, head.update))
            excess -= len(head.records)
        else:
            dropped.append((head.records[:excess], head.update))
            head.records = head.records[excess:]
            queue.pending -= excess
            if queue.journaled:
                queue.rewritten.append(head)
            excess = 0
    for records, update in dropped:
        queue.episode_dropped += len(records)
        _give_up(delivery, turn, records, "dropped", "retry queue full (max_pending=%d)" % limit,
                 queue.outlet, update)


def run_turn(steps: Generator[Push, Tuple[bool, Any], Turn], push: Any) -> Turn:
    """Drive :func:`turn_steps` with a ``def`` push (or one returning an awaitable)."""
    outcome: Any = None
    while True:
        try:
            records, update = steps.send(outcome)
        except StopIteration as stop:
            return stop.value
        outcome = call(push, (records, update))
        if not outcome[0] and not isinstance(outcome[1], Exception):
            raise outcome[1]


async def run_turn_async(steps: Generator[Push, Tuple[bool, Any], Turn], push: Any) -> Turn:
    """Drive :func:`turn_steps` with an ``async def`` push."""
    from ._concurrency import _await_call

    outcome: Any = None
    while True:
        try:
            records, update = steps.send(outcome)
        except StopIteration as stop:
            return stop.value
        outcome = await _await_call(push, (records, update))
        if not outcome[0] and not isinstance(outcome[1], Exception):
            raise outcome[1]
