"""ShardedRun: one set of links spread over several processes or machines."""

from __future__ import annotations

import os
import re

from .._log import get_logger
from ..errors import PlannerStateError
from ._backend import get_backend
from ._spec import RunSpec, check_plain_data, factory_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Union

    from ._backend import Backend, ShardGroup

__all__ = ["ShardedRun"]

_LOGGER = get_logger("databay.distributed.ShardedRun")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")


class ShardedRun:
    """Runs the links a factory builds as ``shards`` shards on a distributed engine.

    Each shard is a process the engine supervises: it imports ``factory``,
    calls ``factory(shard, nshards, **factory_kwargs)``, keeps the links whose
    key hashes to it (:func:`shard_of`) and runs them on a SchedulePlanner
    (``planner_kwargs``), on the wall-clock-aligned grid of their intervals. A
    crashed shard is restarted by the engine and resumes the same grid.

    Args:
        factory: ``"package.module:function"``, or such a function itself.
        shards: how many shards (an int >= 1).
        backend: ``"ray"``, or a Backend instance (e.g. ``RayBackend(address=...)``).
        factory_kwargs: plain data passed to the factory as keyword arguments.
        planner_kwargs: plain data passed to each shard's SchedulePlanner.
        name: the run's name, by which another driver can attach to it
            (letters, digits, ``_.-``); None picks a unique one.
        detached: let the shards outlive this driver (needs ``name``).
        max_restarts: how often the engine restarts a crashed shard
            (-1: always, 0: never).

    Raises:
        TypeError/ValueError: an argument is not accepted; the message says why.
    """

    def __init__(self, factory: Union[str, Callable[..., Any]], shards: int = 2,
                 backend: Any = "ray", factory_kwargs: Optional[Dict[str, Any]] = None,
                 planner_kwargs: Optional[Dict[str, Any]] = None, name: Optional[str] = None,
                 detached: bool = False, max_restarts: int = -1) -> None:
        path = factory_path(factory)
        if isinstance(shards, bool) or not isinstance(shards, int) or shards < 1:
            error = ValueError if isinstance(shards, int) and not isinstance(shards, bool) else TypeError
            raise error("shards=%r must be an int >= 1" % (shards,))
        for parameter, value in (("factory_kwargs", factory_kwargs),
                                 ("planner_kwargs", planner_kwargs)):
            if value is not None and not isinstance(value, dict):
                raise TypeError("%s=%r must be a dict of plain data or None" % (parameter, value))
            check_plain_data(parameter, value)
        if planner_kwargs and "links" in planner_kwargs:
            raise ValueError("planner_kwargs=%r must not contain 'links': the factory builds them"
                             % (planner_kwargs,))
        if not isinstance(detached, bool):
            raise TypeError("detached=%r must be True or False" % (detached,))
        if name is None:
            if detached:
                raise ValueError("detached=True needs name=...: it is how another driver finds "
                                 "the run again")
            name = "run-" + os.urandom(6).hex()
        elif not isinstance(name, str) or not _NAME.match(name):
            raise ValueError("name=%r must be 1-100 letters, digits, '_', '.' or '-', starting "
                             "with a letter or digit" % (name,))
        if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < -1:
            raise ValueError("max_restarts=%r must be an int >= -1 (-1: restart a crashed shard "
                             "without limit, 0: never)" % (max_restarts,))
        self._backend: Backend = get_backend(backend)
        self._spec = RunSpec(name, path, shards, dict(factory_kwargs or {}),
                             dict(planner_kwargs or {}), detached, max_restarts)
        self._group: Optional[ShardGroup] = None
        self._attached = False  # made by attach(): this driver only joined the cluster

    @classmethod
    def attach(cls, name: str, backend: Any = "ray") -> ShardedRun:
        """The run called ``name``, started by this or another driver, e.g. to stop it.

        Raises:
            ShardError: no run with that name is running.
        """
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError("name=%r is not a run name (letters, digits, '_', '.' or '-')"
                             % (name,))
        engine = get_backend(backend)
        group = engine.attach(name)
        run = cls.__new__(cls)
        run._backend, run._spec, run._group = engine, group.spec, group
        run._attached = True
        return run

    # -- properties --------------------------------------------------------

    @property
    def name(self) -> str:
        """The run's name (as given, or the one picked for it)."""
        return self._spec.name

    @property
    def shards(self) -> int:
        """How many shards the run has."""
        return self._spec.nshards

    @property
    def running(self) -> bool:
        """Whether start() returned and stop() was not called since."""
        return self._group is not None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start every shard; returns once all of them run their links.

        Raises:
            PlannerStateError: the run is already started.
            ShardError: a shard failed to start (e.g. the factory raised, or
                two links share a key); the others are stopped again.
        """
        if self._group is not None:
            raise PlannerStateError("start() called on run %r, which is already running"
                                    % (self.name,))
        try:
            self._group = self._backend.launch(self._spec)
        except BaseException:
            self._disconnect()
            raise

    def status(self, timeout: float = 10.0, links: bool = False) -> Dict[str, Any]:
        """A plain snapshot: totals over the shards and each shard's own status.

        ``running`` counts the shards that answered within ``timeout``
        seconds with a running planner; a shard being restarted shows up as
        ``"unreachable"``. Each shard's entry has ``state``, ``pid``, ``host``,
        ``links``, ``transfers``, ``failed_transfers``, ``started_at`` (wall
        time the planner started, later after a restart), ``error``, and the
        sums of its planner's ``stats()``: ``counters`` and ``health``
        (summed over the shards at the top level too). ``links=True`` adds
        every link's own snapshot (``links_stats``): large for big runs.
        """
        if not isinstance(links, bool):
            raise TypeError("links=%r must be True or False" % (links,))
        group = self._running_group("status")
        return _summary(self.name, group.status(timeout, links))

    def stop(self, timeout: Optional[float] = 60.0) -> List[Dict[str, Any]]:
        """Stop every shard gracefully (finish transfers, flush Buffers, ``on_shutdown``).

        Each shard gets ``timeout`` seconds to shut down (None: no limit),
        then its process is ended. Returns each shard's final status; a
        shard that could not be reached is reported with ``state`` ``"lost"``.
        """
        group = self._running_group("stop")
        self._group = None
        try:
            results = group.stop(timeout)
        finally:
            self._disconnect()
        _LOGGER.info("Stopped run %r: %s", self.name,
                     ", ".join("shard %s %s" % (r.get("shard"), r.get("state")) for r in results))
        return results

    def __enter__(self) -> ShardedRun:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._group is not None:
            self.stop()

    def _running_group(self, method: str) -> ShardGroup:
        if self._group is None:
            raise PlannerStateError("%s() called on run %r, which is not running; call start() "
                                    "first" % (method, self.name))
        return self._group

    def _disconnect(self) -> None:
        if self._attached or not self._spec.detached:  # never end a cluster detached shards use
            self._backend.disconnect()

    def __repr__(self) -> str:
        return "ShardedRun(name=%r, factory=%r, shards=%d, running=%s)" % (
            self.name, self._spec.factory, self.shards, self.running)


def _summary(name: str, shards: List[Dict[str, Any]]) -> Dict[str, Any]:
    def total(field: str) -> int:
        return sum(shard.get(field) or 0 for shard in shards)

    counters: Dict[str, Dict[str, int]] = {}
    health: Dict[str, int] = {}
    for shard in shards:
        for group, values in (shard.get("counters") or {}).items():
            _add(counters.setdefault(group, {}), values)
        _add(health, shard.get("health") or {})
    return {
        "name": name,
        "shards": len(shards),
        "running": sum(shard.get("state") == "running" for shard in shards),
        "links": total("links"),
        "transfers": total("transfers"),
        "failed_transfers": total("failed_transfers"),
        "counters": counters,
        "health": health,
        "per_shard": shards,
    }


def _add(into: Dict[str, int], values: Dict[str, int]) -> None:
    for key, value in values.items():
        into[key] = into.get(key, 0) + value
