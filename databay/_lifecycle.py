"""The once-only start/shutdown guard shared by Inlet and Outlet."""

from __future__ import annotations

import _thread
from _thread import get_ident

from .errors import ImplementationError

_LOCK_MAKING = _thread.allocate_lock()  # makes each node's lifecycle lock once (see Lifecycle._checked_lock)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional


class HeldReleases:
    """Releases of one node that a planner's shutdown counted but has not made yet.

    ``link.shutdown_links`` holds a node that many of its links share: a
    release before the last of those links is counted here instead of made
    under the node's lock, and that last link makes them all at once.
    Until then the node's count of users is only higher than it would be, so
    it is never stopped early. Any other release of the node in that thread
    (a node's hook stopping one of those links by hand) takes the counted ones
    along (``Lifecycle._release``), so the node stops where it would have.
    """

    __slots__ = ("node", "owed", "link")

    def __init__(self) -> None:
        self.node: Any = None  # the node held
        self.owed = 0  # its releases counted, not made
        self.link: Any = None  # the link that began holding it (reported if the last release is made late)


#: thread ident -> the releases a planner's shutdown running in that thread holds
HELD_RELEASES: Dict[int, HeldReleases] = {}


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


class Lifecycle:
    """``on_start``/``on_shutdown`` hooks that run once per instance, reference-counted.

    Links use a node through :meth:`_acquire` and :meth:`_release`: ``on_start``
    runs when the first user (a started link, in any planner) acquires it and
    ``on_shutdown`` when the last one releases it, so a node shared by links
    in two planners keeps running until both stopped. A node started by hand
    (``try_start``) before any link acquired it is left running: whoever
    started it stops it. ``active`` is True between a successful ``on_start``
    and the following ``on_shutdown``; if ``on_start`` raises, the node stays
    inactive and unacquired.
    """

    _active: bool
    _uses_coroutine: bool  # set by Inlet/Outlet: whether pull/push is ``async def``
    # Until first changed, read from the class: a node built sets only ``_active`` (nodes are
    # built by the thousand; each attribute set is work, and memory the collector visits).
    _users = 0  # started links using this node
    _started_by_users = False  # on_start ran because a link acquired it
    _lifecycle_lock: Optional[_thread.RLock] = None  # made when first needed (see _checked_lock)

    def _init_lifecycle(self) -> None:
        self._active = False  # also what check_initialised looks for

    def _checked_lock(self) -> _thread.RLock:
        """The lifecycle lock; ImplementationError if ``__init__`` skipped ``super().__init__()``
        (checked only when the lock is missing: links call this for each node, 10,000 at once).

        The lock is made on first use, under a process-wide lock so that two
        first users get the same one: nodes are often built by the thousand
        before any starts, and a lock each is an allocation (and an object for
        the garbage collector to visit) per node.
        """
        lock = self._lifecycle_lock
        if lock is None:
            if getattr(self, "_active", None) is None:  # __init__ skipped super().__init__()
                check_initialised(self)  # raises ImplementationError
            with _LOCK_MAKING:
                lock = self._lifecycle_lock
                if lock is None:
                    lock = self._lifecycle_lock = _thread.RLock()  # threading's, without importing it
        return lock

    def _acquire(self) -> None:
        """One more user: start the node if it is the first and the node is not active.
        ``Link.on_start`` repeats these steps inline (see ``acquired_inline``): change both together."""
        lock = self._checked_lock()
        lock.acquire()  # acquire/release: half the cost of ``with`` on an RLock
        try:
            if not self._active:
                self.on_start()
                self._active = True
                self._started_by_users = True
            self._users += 1
        finally:
            lock.release()

    def _release(self, count: int = 1) -> bool:
        """``count`` users less: shut the node down after the last, if a user started it.

        Returns whether this call shut the node down (the link reports it as an
        event). A planner releases thousands of nodes at shutdown, so the lock is
        taken once: without a ``try_shutdown`` override its body runs under it.
        ``link.shutdown_links`` repeats these steps inline: change both together.
        Releases of this node that a shutdown in this thread holds are made too.
        """
        lock = self._checked_lock()
        lock.acquire()
        try:
            if HELD_RELEASES:  # a shutdown counts releases (see HeldReleases): this one takes them
                held = HELD_RELEASES.get(get_ident())
                if held is not None and held.node is self and held.owed:
                    count += held.owed
                    held.owed = 0
            users = self._users
            if users == 0:
                return False
            left = users - count if users > count else 0
            self._users = left
            if left or not self._started_by_users:
                return False
            self._started_by_users = False
            if type(self).try_shutdown is Lifecycle.try_shutdown:  # its body, inline: the lock is held
                if not self._active:
                    return False
                self._active = False
                self.on_shutdown()
                return True
            was_active = self._active
            self.try_shutdown()
            return was_active and not self._active
        finally:
            lock.release()

    @property
    def active(self) -> bool:
        """Whether the node is started and ready (set by ``try_start``/``try_shutdown``)."""
        check_initialised(self)
        return self._active

    def try_start(self) -> None:
        """Call ``on_start`` unless the node is already active."""
        check_initialised(self)
        with self._checked_lock():
            if self._active:
                return
            self.on_start()
            self._active = True

    def try_shutdown(self) -> None:
        """Call ``on_shutdown`` if the node is active; mark it inactive even if that raises."""
        lock = self._checked_lock()
        lock.acquire()
        try:
            if not self._active:
                return
            self._active = False
            self._started_by_users = False
            self.on_shutdown()
        finally:
            lock.release()

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


def acquired_inline(cls: type) -> bool:
    """Whether ``Link.on_start`` may acquire nodes of ``cls`` with ``Lifecycle._acquire``'s steps
    inline: the class keeps ``_acquire`` and ``_checked_lock``. Checked per class, as
    :func:`released_inline` is: ``_acquire`` replaced on one node instance is not seen there."""
    return getattr(cls, "_acquire", None) is _PLAIN_ACQUIRE and \
        getattr(cls, "_checked_lock", None) is _PLAIN_CHECKED_LOCK


_PLAIN_ACQUIRE = Lifecycle._acquire
_PLAIN_CHECKED_LOCK = Lifecycle._checked_lock
_PLAIN_RELEASE = Lifecycle._release
_PLAIN_TRY_SHUTDOWN = Lifecycle.try_shutdown
