"""PipelineMachine: stateful fuzzing of a running pipeline; no pulled record may silently vanish.

Hypothesis drives a real planner on a :class:`~databay_testing.VirtualClock`
through random sequences of steps: links added and removed, time advanced,
transfers forced, nodes that raise, hang or return garbage, shutdowns and
restarts. After every step, and after the shutdown that ends every run, it checks the
accounting invariant: every record
an inlet returned has been delivered, refused by a failing push, dead-lettered,
dropped and counted in ``Link.delivery_counts``, or is still pending inside a
link that is running, and never delivered twice or invented; and every node
was started and shut down in turn, once per run.

Subclass it to fuzz your own link configuration (processors, Buffers, retry,
dead letters) or your own planner::

    class MyPipeline(databay_testing.PipelineMachine):
        def make_link(self, inlet, outlet, dead_letter):
            return Link(inlet, outlet, interval=5, processors=[my_processor])

    TestMyPipeline = MyPipeline.TestCase
    TestMyPipeline.settings = settings(max_examples=30, stateful_step_count=15, deadline=None)
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import threading
import time

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from databay import Inlet, Link, Outlet

from .clock import VirtualClock
from .harness import CaptureOutlet, running_planner

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Deque, List, Optional

    from databay import BasePlanner, Record, Update

__all__ = ["FuzzFailure", "FuzzInlet", "FuzzOutlet", "PipelineMachine"]

#: What a node may be told to do on its next call.
MISBEHAVIOURS = ("raise", "hang", "garbage")


class FuzzFailure(Exception):
    """The exception fuzzed nodes raise on purpose."""


class Uncopyable:
    """A payload value that refuses to be deep-copied (an inlet's garbage)."""

    def __deepcopy__(self, memo: Any) -> Any:
        raise TypeError("Uncopyable refuses to be deep-copied (on purpose)")

    def __repr__(self) -> str:
        return "Uncopyable()"


class _Lifecycle:
    """Records on_start / on_shutdown calls; the machine checks that they alternate."""

    def _init_events(self) -> None:
        self.events: List[str] = []

    def on_start(self) -> None:
        self.events.append("start")

    def on_shutdown(self) -> None:
        self.events.append("shutdown")

    def lifecycle_problem(self) -> Optional[str]:
        expected = itertools.cycle(["start", "shutdown"])
        for index, (event, want) in enumerate(zip(self.events, expected)):
            if event != want:
                return "call %d was on_%s, expected on_%s (calls: %s)" % (index, event, want, self.events)
        return None


class FuzzInlet(_Lifecycle, Inlet):
    """Returns ``batch`` new records per pull, each payload ``{'id': n}`` with a unique ``n``.

    ``plan`` holds what the next pulls do instead: ``'raise'`` (FuzzFailure),
    ``'hang'`` (sleep ``hang_seconds`` of real time, then return nothing),
    ``'garbage'`` (the records also carry an :class:`Uncopyable` value).
    """

    def __init__(self, name: str, ids: Any, batch: int = 2, hang_seconds: float = 0.05) -> None:
        super().__init__()
        self._init_events()
        self.name = name
        self._ids = ids
        self.batch = batch
        self.hang_seconds = hang_seconds
        self.plan: Deque[str] = collections.deque()
        self.pulled: List[int] = []
        self._lock = threading.Lock()

    def pull(self, update: Update) -> Any:
        how = self.plan.popleft() if self.plan else None
        if how == "raise":
            raise FuzzFailure("%r failed on purpose" % (self,))
        if how == "hang":
            time.sleep(self.hang_seconds)
            return []
        with self._lock:
            ids = [next(self._ids) for _ in range(self.batch)]
            self.pulled.extend(ids)
        if how == "garbage":
            return [{"id": n, "junk": Uncopyable()} for n in ids]
        return [{"id": n} for n in ids]

    def __repr__(self) -> str:
        return "FuzzInlet(%s)" % self.name


class FuzzOutlet(_Lifecycle, Outlet):
    """Keeps the ids it received; ``plan`` makes the next pushes raise, hang or return garbage."""

    def __init__(self, name: str, hang_seconds: float = 0.05) -> None:
        super().__init__()
        self._init_events()
        self.name = name
        self.hang_seconds = hang_seconds
        self.plan: Deque[str] = collections.deque()
        self.delivered: List[int] = []
        self.refused: List[int] = []
        self._lock = threading.Lock()

    def push(self, records: List[Record], update: Update) -> Any:
        how = self.plan.popleft() if self.plan else None
        ids = [record.payload["id"] for record in records]
        if how == "raise":
            with self._lock:
                self.refused.extend(ids)
            raise FuzzFailure("%r refused %d record(s) on purpose" % (self, len(ids)))
        if how == "hang":
            time.sleep(self.hang_seconds)
        with self._lock:
            self.delivered.extend(ids)
        return object() if how == "garbage" else None

    def __repr__(self) -> str:
        return "FuzzOutlet(%s)" % self.name


class _Piece:
    """One fuzzed link and the nodes the machine made for it."""

    def __init__(self, link: Link, inlet: FuzzInlet, outlet: FuzzOutlet, dead: CaptureOutlet) -> None:
        self.link = link
        self.inlet = inlet
        self.outlet = outlet
        self.dead = dead
        self.removed = False

    def __repr__(self) -> str:
        return self.inlet.name


class _Collector(logging.Handler):
    """Keeps the messages of ERROR records on ``databay`` loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.messages.append(record.getMessage())
        except Exception:  # noqa: BLE001 - a broken log call must not break the machine
            self.messages.append(str(record.msg))


class PipelineMachine(RuleBasedStateMachine):
    """A Hypothesis state machine that fuzzes a planner running real links in virtual time.

    Override :meth:`make_link` (your link configuration) and
    :meth:`make_planner` (your planner, given the clock). Run it as a test
    with ``TestX = MyMachine.TestCase`` (pytest/unittest) or
    ``hypothesis.stateful.run_state_machine_as_test(MyMachine)``.

    Attributes you may change in a subclass: ``max_links`` (3),
    ``hang_seconds`` (real seconds a hanging node blocks, 0.05),
    ``allow_duplicates`` (False: a record delivered twice is a failure; set
    True for at-least-once links with retry).

    ``steps`` lists the steps of the current run, in order (what a failure
    report shrinks).
    """

    max_links = 3
    hang_seconds = 0.05
    allow_duplicates = False
    #: The steps of the latest run of this machine class (after a failure: the shrunk run).
    last_steps: List[str] = []

    links = Bundle("links")

    def __init__(self) -> None:
        super().__init__()
        self.steps: List[str] = []
        self._names = itertools.count()
        self._ids = itertools.count()
        self.pieces: List[_Piece] = []
        self.clock = VirtualClock()
        self.planner = self.make_planner(self.clock)
        self._running: Optional[contextlib.ExitStack] = None
        self._log = _Collector()
        logging.getLogger("databay").addHandler(self._log)
        type(self).last_steps = self.steps

    # -- what users override -------------------------------------------------

    def make_link(self, inlet: Inlet, outlet: Outlet, dead_letter: Outlet) -> Link:
        """Build the link to fuzz from the machine's inlet and outlet.

        Default: ``Link(inlet, outlet, interval=1, processors=[Buffer(time_threshold=5,
        clock=self.clock.now)])``, so records wait in a Buffer for five virtual seconds. ``dead_letter`` is an
        outlet the machine watches; pass it to the link if it supports dead
        letters. Use exactly the given inlet and outlet, once each.
        """
        from databay.support.buffers import Buffer

        buffer = Buffer(time_threshold=5, clock=self.clock.now)
        return Link(inlet, outlet, interval=1, tags=str(inlet), processors=[buffer])

    def make_planner(self, clock: VirtualClock) -> BasePlanner:
        """Build the planner under test on ``clock``.

        Default: ``SchedulePlanner(clock=clock, ignore_exceptions=True)``.
        """
        from databay.planners import SchedulePlanner

        return SchedulePlanner(clock=clock, ignore_exceptions=True)

    # -- rules ----------------------------------------------------------------

    @initialize()
    def start_planner(self) -> None:
        """Every run begins with the planner started (and no links)."""
        self._start()

    def _step(self, text: str) -> None:
        self.steps.append(text)

    @property
    def running(self) -> bool:
        """Whether the planner runs (it may have stopped by itself on a planted failure)."""
        return self._running is not None and bool(self.planner.running)

    @precondition(lambda self: len([p for p in self.pieces if not p.removed]) < self.max_links)
    @rule(target=links)
    def add_link(self) -> _Piece:
        name = "n%d" % next(self._names)
        inlet = FuzzInlet(name, self._ids, hang_seconds=self.hang_seconds)
        outlet = FuzzOutlet(name, hang_seconds=self.hang_seconds)
        dead = CaptureOutlet()
        piece = _Piece(self.make_link(inlet, outlet, dead), inlet, outlet, dead)
        self._step("add_link(%s)" % name)
        self.planner.add_links(piece.link)
        self.pieces.append(piece)
        return piece

    @rule(piece=consumes(links))
    def remove_link(self, piece: _Piece) -> None:
        self._step("remove_link(%s)" % piece)
        piece.removed = True
        try:
            self.planner.remove_links(piece.link)
        except FuzzFailure:
            pass  # a planted failure during the final flush; the accounting decides

    @precondition(lambda self: self.running)
    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5, 10.0]))
    def advance(self, seconds: float) -> None:
        self._step("advance(%r)" % seconds)
        self.clock.advance(seconds)

    @precondition(lambda self: self.running)
    @rule()
    def force_transfer(self) -> None:
        self._step("force_transfer()")
        self.planner.force_transfer()

    @rule(piece=links, how=st.sampled_from(MISBEHAVIOURS))
    def inlet_misbehaves(self, piece: _Piece, how: str) -> None:
        self._step("inlet_misbehaves(%s, %r)" % (piece, how))
        piece.inlet.plan.append(how)

    @rule(piece=links, how=st.sampled_from(MISBEHAVIOURS))
    def outlet_misbehaves(self, piece: _Piece, how: str) -> None:
        self._step("outlet_misbehaves(%s, %r)" % (piece, how))
        piece.outlet.plan.append(how)

    @precondition(lambda self: self.running)
    @rule()
    def shutdown(self) -> None:
        self._step("shutdown()")
        self._stop()

    @precondition(lambda self: not self.running)
    @rule()
    def start(self) -> None:
        self._step("start()")
        self._start()

    def _start(self) -> None:
        self._stop()  # a planner that stopped by itself still has its thread to join
        stack = contextlib.ExitStack()
        stack.enter_context(running_planner(self.planner, self.clock))
        self._running = stack

    def _stop(self) -> None:
        stack, self._running = self._running, None
        if stack is not None:
            try:
                stack.close()
            except FuzzFailure:
                pass  # a planted failure the planner stopped on; the accounting decides

    # -- the invariant --------------------------------------------------------

    @invariant()
    def nothing_is_silently_lost(self) -> None:
        for piece in self.pieces:
            self._check_accounting(piece)
            self._check_lifecycle(piece)

    def _check_accounting(self, piece: _Piece) -> None:
        pulled = list(piece.inlet.pulled)
        delivered = list(piece.outlet.delivered)
        refused = set(piece.outlet.refused)
        dead = [record.payload.get("id") if isinstance(record.payload, dict) else None
                for record in piece.dead.records]
        known = set(pulled)
        invented = [n for n in delivered + dead if n not in known]
        assert not invented, "%s: records that no pull returned arrived: %s (steps: %s)" % (
            piece, invented, self.steps)
        if not self.allow_duplicates:
            twice = sorted(n for n, count in collections.Counter(delivered).items() if count > 1)
            assert not twice, "%s: records delivered more than once: %s (steps: %s)" % (
                piece, twice, self.steps)
        missing = known - set(delivered) - set(dead) - refused
        live = self.running and not piece.removed
        if live or not missing:
            return
        counts = getattr(piece.link, "delivery_counts", None)
        counted = 0
        if isinstance(counts, dict):
            counted = max(0, counts.get("lost", 0) - len(refused))
        assert len(missing) <= counted, (
            "%s: %d record(s) pulled but neither delivered, refused by a failing push, "
            "dead-lettered, counted as lost (%d counted) nor pending in a running link: ids %s "
            "(pulled %d, delivered %d, refused %d, dead-lettered %d); steps: %s" % (
                piece, len(missing), counted, sorted(missing)[:10], len(pulled), len(set(delivered)),
                len(refused), len(dead), self.steps))
        if refused:
            assert any(repr(piece.outlet) in message for message in self._log.messages), (
                "%s: the outlet refused records but no ERROR log names it; steps: %s"
                % (piece, self.steps))

    def _check_lifecycle(self, piece: _Piece) -> None:
        for node in (piece.inlet, piece.outlet):
            problem = node.lifecycle_problem()
            assert problem is None, "%r: %s; steps: %s" % (node, problem, self.steps)
            if piece.removed or not self.running:
                assert not node.active, "%r is still active after its link %s; steps: %s" % (
                    node, "was removed" if piece.removed else "stopped", self.steps)
            else:
                assert node.active, "%r is not active in a running planner; steps: %s" % (
                    node, self.steps)

    # -- set-up and tear-down ---------------------------------------------------

    def teardown(self) -> None:
        """Every run ends with a shutdown, and the invariant is checked once more after it."""
        try:
            stopped = self.running
            self._stop()
            if stopped:
                self.steps.append("(final shutdown)")
                self.nothing_is_silently_lost()
        finally:
            logging.getLogger("databay").removeHandler(self._log)
