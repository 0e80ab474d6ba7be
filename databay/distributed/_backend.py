"""The seam between ShardedRun and a distributed engine.

A backend knows how to reach a cluster and how to keep one :class:`Shard`
alive per index there: start it in a process the engine supervises and
restarts, find it again by the run's name, ask it for its status and stop it.
Ray is the first backend; a Dask one would implement the same two classes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from ._spec import RunSpec

__all__ = ["Backend", "ShardGroup", "get_backend", "BACKENDS"]


class ShardGroup(ABC):
    """Handles to the running shards of one run, as a backend sees them."""

    spec: RunSpec

    @abstractmethod
    def status(self, timeout: float, links: bool = False) -> List[Dict[str, Any]]:
        """Each shard's :meth:`Shard.status` (with ``links``), in shard order.

        A shard that does not answer within ``timeout`` seconds (crashed,
        restarting) is reported as ``{"shard": i, "state": "unreachable",
        "error": ...}`` instead of raising.
        """

    @abstractmethod
    def stop(self, timeout: Optional[float]) -> List[Dict[str, Any]]:
        """Stop every shard gracefully, then end its process; each shard's final status."""


class Backend(ABC):
    """A distributed engine that runs shards (see the module docstring)."""

    name: str = ""

    @abstractmethod
    def launch(self, spec: RunSpec) -> ShardGroup:
        """Start ``spec.nshards`` shards and return once all of them run.

        Raises:
            ShardError: a shard failed to start (the others are stopped again).
        """

    @abstractmethod
    def attach(self, name: str) -> ShardGroup:
        """The shards of the run called ``name``, started by any driver.

        Raises:
            ShardError: no such run is running.
        """

    def disconnect(self) -> None:
        """Leave the cluster after a run stopped, if this backend joined it (default: nothing)."""
        return None


def _ray_backend() -> Backend:
    from ._ray import RayBackend

    return RayBackend()


BACKENDS = {"ray": _ray_backend}


def get_backend(backend: Any) -> Backend:
    """A Backend from a name in :data:`BACKENDS` or a Backend instance."""
    if isinstance(backend, Backend):
        return backend
    if isinstance(backend, str) and backend in BACKENDS:
        return BACKENDS[backend]()
    raise ValueError("backend=%r must be one of %s or a databay.distributed.Backend instance"
                     % (backend, ", ".join(repr(name) for name in sorted(BACKENDS))))
