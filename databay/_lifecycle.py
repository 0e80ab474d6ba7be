"""The once-only start/shutdown guard shared by Inlet and Outlet."""

from __future__ import annotations

import _thread

from .errors import ImplementationError

_get_ident = _thread.get_ident
_allocate_lock = _thread.allocate_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple


def check_initialised(node: object) -> None:
    """Raise ImplementationError if ``node``'s ``__init__`` skipped ``super().__init__()``.

    Looks for ``_active``, which ``Lifecycle._init_lifecycle`` always sets. A
    stand-in that only claims to be a node through ``__class__``, such as
    ``unittest.mock.MagicMock(spec=Inlet)``, has no ``__init__`` of ours to
    call: it is accepted, as databay 0.3.0 accepted it, and prepared by
    :func:`_prepare_stand_in` so that a transfer calls its ``pull``/``push``.
    """
    if "_active" in getattr(node, "__dict__", {}):
        return
    if not issubclass(type(node), Lifecycle):
        _prepare_stand_in(node)
        return
    cls = type(node).__name__
    raise ImplementationError(
        "%s.__init__ did not call super().__init__(); add super().__init__(...) "
        "to %s.__init__" % (cls, cls))


def _prepare_stand_in(node: Any) -> None:
    """Give a stand-in node the private hooks a transfer uses, built on its public methods.

    Only stand-ins get here (their class is not a real node class), and only
    hooks the stand-in does not already have as its own attribute are set:
    ``_uses_coroutine`` (from its ``pull``/``push``), an inlet's
    ``_to_records`` (the pull-return rules, each record tagged with
    ``'__inlet__': str(node)``), an outlet's ``processors`` (none) and
    ``_process_and_push`` (calls ``push``), and ``_acquire``/``_release``
    (call ``try_start``/``try_shutdown``). A mock therefore records
    ``pull(update)``, ``push(records, update)``, ``try_start()`` and
    ``try_shutdown()`` calls as a user expects, as with 0.3.0.
    """
    from ._coroutines import is_coroutine_callable
    from .inlet import Inlet
    from .outlet import Outlet
    from .record import Record

    own = vars(node)
    hooks: Dict[str, Any] = {}
    if isinstance(node, Inlet):
        def to_records(data: Any) -> List[Any]:
            values = data if isinstance(data, list) else [data]
            return [value if isinstance(value, Record) else Record(value, {"__inlet__": str(node)})
                    for value in values]
        hooks = {"_uses_coroutine": lambda: is_coroutine_callable(node.pull),
                 "_to_records": lambda: to_records}
    elif isinstance(node, Outlet):
        hooks = {"_uses_coroutine": lambda: is_coroutine_callable(node.push),
                 "processors": lambda: [],
                 "_process_and_push": lambda: lambda records, update: node.push(records, update)}
    hooks["_acquire"] = lambda: lambda: node.try_start()  # a mock has nobody else to count
    hooks["_release"] = lambda: lambda: _stand_in_release(node)
    for name, make in hooks.items():
        if name not in own:
            setattr(node, name, make())


def _stand_in_release(node: Any) -> bool:
    """A stand-in's ``_release``: ``try_shutdown()``; True if that changed its ``_active``
    (as :meth:`Lifecycle._release` returns whether it shut the node down)."""
    was_active = getattr(node, "_active", None)  # a mock has none
    node.try_shutdown()
    return getattr(node, "_active", None) is not was_active


class Usage:
    """Who uses one node, and whether one of its hooks runs now; read and changed under ``GUARD``.

    ``users`` counts the started links using the node; ``started_by_users``
    says its ``on_start`` ran because a link acquired it (a node started by hand
    is left running when its last user stops). While ``on_start`` or
    ``on_shutdown`` runs, ``busy`` is a mark ``(lock, thread id)``: the lock is
    held by that thread until the hook returned, and another thread that would
    start or stop the node waits on it. Hooks run outside ``GUARD``, so a slow
    hook holds up only its own node's users.

    Started links keep their nodes' Usage (``Link._acquired``): a planner's
    shutdown counts 20,000 users off under ``GUARD`` taken once, reading one
    slotted class instead of attributes of every node class (see
    ``link.shutdown_links``). Made at a node's first use, not when it is built.
    """

    __slots__ = ("node", "kind", "users", "started_by_users", "busy")

    def __init__(self, node: Any) -> None:
        self.node = node
        self.kind = type(node)  # read at shutdown for each user: a slot, not a call
        self.users = 0
        self.started_by_users = False
        self.busy: Optional[Tuple[Any, int]] = None


def usage_of(node: Any, acquired: Any) -> Usage:
    """What a link keeps for ``node`` once ``node._acquire()`` returned ``acquired``: the
    node's Usage; a stand-in (a mock, whose ``_acquire`` returns anything) gets one of its own,
    counting nothing: it is released through its own ``_release``."""
    if type(acquired) is Usage:
        return acquired
    own = getattr(node, "_usage", None)  # a subclass's _acquire that returned nothing
    return own if type(own) is Usage else Usage(node)


GUARD = _thread.RLock()
"""Guards every node's :class:`Usage` (and the decision to start or stop a node). Never held
while a hook runs; reentrant: a signal handler may stop a planner on a thread inside it."""


def wait_for_hooks(usage: Usage) -> None:
    """With ``GUARD`` held: wait until no other thread runs a hook of ``usage``'s node
    (``GUARD`` is released meanwhile). The calling thread's own hooks do not count."""
    me = _get_ident()
    busy = usage.busy
    while busy is not None and busy[1] != me:
        GUARD.release()
        try:
            busy[0].acquire()
            busy[0].release()
        finally:
            GUARD.acquire()
        busy = usage.busy


def _mark(usage: Usage) -> Optional[Tuple[Any, int]]:
    """With ``GUARD`` held: mark ``usage``'s node busy for this thread while a hook runs;
    returns the mark it had, for :func:`_unmark` (a hook may start or stop its own node)."""
    lock = _allocate_lock()
    lock.acquire()
    outer, usage.busy = usage.busy, (lock, _get_ident())
    return outer


def _unmark(usage: Usage, outer: Optional[Tuple[Any, int]]) -> None:
    """With ``GUARD`` held: end this thread's mark (restoring ``outer``); wake its waiters."""
    busy = usage.busy
    usage.busy = outer
    if busy is not None:
        busy[0].release()


class Lifecycle:
    """``on_start``/``on_shutdown`` hooks that run once per instance, reference-counted.

    Links use a node through :meth:`_acquire` and :meth:`_release`: ``on_start``
    runs when the first user (a started link, in any planner) acquires it and
    ``on_shutdown`` when the last one releases it, so a node shared by links
    in two planners keeps running until both stopped. A node started by hand
    (``try_start``) before any link acquired it is left running: whoever
    started it stops it. ``active`` is True between a successful ``on_start``
    and the following ``on_shutdown``; if ``on_start`` raises, the node stays
    inactive and unacquired. The counts live in the node's :class:`Usage`,
    under ``GUARD``; the hooks run outside it, the node marked busy meanwhile.
    """

    _active: bool
    _uses_coroutine: bool  # set by Inlet/Outlet: whether pull/push is ``async def``
    # Until first used, read from the class: a node built sets only ``_active`` (nodes are
    # built by the thousand; each attribute set is work, and memory the collector visits).
    _usage: Optional[Usage] = None  # made when first needed (see _checked_usage)

    def _init_lifecycle(self) -> None:
        self._active = False  # also what check_initialised looks for

    def _checked_usage(self) -> Usage:
        """This node's :class:`Usage`; ImplementationError if ``__init__`` skipped
        ``super().__init__()`` (checked only when it is missing: links call this for each node).

        Made on first use, under ``GUARD``, so that two first users get the same one.
        """
        usage = self._usage
        if usage is None:
            if getattr(self, "_active", None) is None:  # __init__ skipped super().__init__()
                check_initialised(self)  # raises ImplementationError
            with GUARD:
                usage = self._usage
                if usage is None:
                    usage = self._usage = Usage(self)
        return usage

    def _acquire(self) -> Usage:
        """One more user: start the node if it is the first and the node is not active.
        Returns the node's Usage (what a started link keeps)."""
        GUARD.acquire()  # acquire/release: half the cost of ``with`` on an RLock
        try:
            usage = self._usage
            if usage is None:  # made here, not by _checked_usage: one guard round less
                if getattr(self, "_active", None) is None:  # __init__ skipped super().__init__()
                    check_initialised(self)  # raises ImplementationError
                usage = self._usage = Usage(self)
            elif usage.busy is not None:
                wait_for_hooks(usage)
            if self._active:
                usage.users += 1
                return usage
            outer = _mark(usage)
        finally:
            GUARD.release()
        started = False
        try:
            self.on_start()
            started = True
        finally:
            GUARD.acquire()
            try:
                if started:  # counted before the mark ends: a waiting user then finds it active
                    self._active = True
                    usage.started_by_users = True
                    usage.users += 1
                _unmark(usage, outer)
            finally:
                GUARD.release()
        return usage

    def _release(self) -> bool:
        """One user less: shut the node down after the last, if a user started it.

        Returns whether this call shut the node down (the link reports it as an
        event). ``link.shutdown_links`` repeats these steps for many nodes at
        once: change both together.
        """
        usage = self._checked_usage()
        GUARD.acquire()
        try:
            if usage.busy is not None:
                wait_for_hooks(usage)
            users = usage.users
            if users == 0:
                return False
            usage.users = users - 1
            if users > 1 or not usage.started_by_users:
                return False
            usage.started_by_users = False
            plain = type(self).try_shutdown is Lifecycle.try_shutdown
            if plain:  # try_shutdown's steps, inline
                if not self._active:
                    return False
                self._active = False
            was_active = self._active
            outer = _mark(usage)  # an overriding try_shutdown runs marked too
        finally:
            GUARD.release()
        try:
            if plain:
                self.on_shutdown()
                return True
            self.try_shutdown()
            return was_active and not self._active
        finally:
            with GUARD:
                _unmark(usage, outer)

    @property
    def active(self) -> bool:
        """Whether the node is started and ready (set by ``try_start``/``try_shutdown``)."""
        check_initialised(self)
        return self._active

    def try_start(self) -> None:
        """Call ``on_start`` unless the node is already active."""
        check_initialised(self)
        usage = self._checked_usage()
        with GUARD:
            wait_for_hooks(usage)
            if self._active:
                return
            outer = _mark(usage)
        started = False
        try:
            self.on_start()
            started = True
        finally:
            with GUARD:
                if started:
                    self._active = True
                _unmark(usage, outer)

    def try_shutdown(self) -> None:
        """Call ``on_shutdown`` if the node is active; mark it inactive even if that raises."""
        usage = self._checked_usage()
        with GUARD:
            wait_for_hooks(usage)
            if not self._active:
                return
            self._active = False
            usage.started_by_users = False
            outer = _mark(usage)
        try:
            self.on_shutdown()
        finally:
            with GUARD:
                _unmark(usage, outer)

    def on_start(self) -> None:
        """Override to acquire resources; called once before the first transfer."""

    def on_shutdown(self) -> None:
        """Override to release resources; called once after the last transfer."""


def released_inline(cls: type) -> bool:
    """Whether a planner's shutdown may release nodes of ``cls`` with ``Lifecycle._release``'s
    steps inline (``link.shutdown_links``): the class keeps ``_release`` and ``try_shutdown``.
    Checked per class, not per node (20,000 nodes at a shutdown): ``_release`` or
    ``try_shutdown`` replaced on one node instance is not seen here."""
    return getattr(cls, "_release", None) is _PLAIN_RELEASE and \
        getattr(cls, "try_shutdown", None) is _PLAIN_TRY_SHUTDOWN


_PLAIN_RELEASE = Lifecycle._release
_PLAIN_TRY_SHUTDOWN = Lifecycle.try_shutdown
