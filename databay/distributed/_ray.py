"""The Ray backend: each shard is a restartable Ray actor named after its run.

Ray is imported only when a RayBackend connects, never when databay or
``databay.distributed`` is imported. An actor's constructor builds and starts
its Shard, so when Ray restarts a crashed actor (``max_restarts``) in a fresh
process, the shard comes back by itself, with its links rebuilt by the factory.
"""

from __future__ import annotations

import gc
import os
import traceback

from .._log import get_logger
from ..errors import ShardError
from ._backend import Backend, ShardGroup
from ._shard import Shard
from ._spec import RunSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

__all__ = ["RayBackend", "NAMESPACE"]

_LOGGER = get_logger("databay.distributed.RayBackend")

NAMESPACE = "databay"  # the Ray namespace of every shard actor, so any driver can find them
_START_TIMEOUT = 300.0  # seconds for every shard to build and start its links
_STOP_GRACE = 15.0  # seconds on top of stop(timeout) for the calls themselves


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError("backend='ray' needs Ray, which is not installed: pip install "
                          "'databay[ray]'") from error
    return ray


def actor_name(run: str, index: int) -> str:
    """The Ray actor name of shard ``index`` of the run called ``run``."""
    return "%s.shard-%d" % (run, index)


class ShardActor:
    """The Ray actor around one Shard (made remote by RayBackend, created by Ray)."""

    def __init__(self, spec: Dict[str, Any], index: int, niceness: Optional[int] = None) -> None:
        self._spec = spec
        self._shard = Shard(RunSpec.from_dict(spec), index)
        self._failure: Optional[str] = None
        if niceness is not None:
            _renice(niceness, index, spec.get("name"))
        try:
            self._shard.start()
        except Exception:  # noqa: BLE001 - reported by ready(); the actor stays to say why
            self._failure = traceback.format_exc()
            return
        # This process is the shard's own: what exists now (Ray's modules, the links and
        # their nodes) lives as long as it does. Freezing it keeps the collector from
        # scanning it again: a full collection of a 10,000-link shard otherwise stops
        # every transfer for about a quarter of a second.
        gc.freeze()

    def ready(self) -> Dict[str, Any]:
        if self._failure is not None:
            raise ShardError(self._failure)
        return self._shard.status()

    def spec(self) -> Dict[str, Any]:
        return self._spec

    def status(self, links: bool = False) -> Dict[str, Any]:
        status = self._shard.status(links)
        if self._failure is not None:
            status["state"], status["error"] = "failed", self._failure
        return status

    def stop(self, timeout: Optional[float]) -> Dict[str, Any]:
        return self._shard.stop(timeout)


class RayBackend(Backend):
    """Runs shards as Ray actors.

    Args:
        address: the cluster to use when this process is not connected to Ray
            yet: None starts a local cluster for a new run (or uses
            ``RAY_ADDRESS``), ``"auto"`` finds one on this machine, and
            ``"ray://head:10001"`` reaches a remote one. ``attach`` uses
            ``"auto"`` when this is None.
        init_kwargs: more arguments for ``ray.init`` (e.g. ``num_cpus``).
        actor_options: Ray options for each shard actor, over the defaults
            ``num_cpus=1`` and ``scheduling_strategy="SPREAD"`` (one CPU
            reserved per shard, shards spread over the nodes).
        niceness: the CPU niceness of the shards' threads. Ray runs worker
            processes at 15, below every ordinary process, so on a busy node
            the shards' schedules starve first; the default 0 gives them the
            priority of any other program (a local cluster this backend starts
            gets ``worker_niceness=0``; elsewhere each shard lowers its own,
            which needs the right to, else it logs how to start the cluster).
            None keeps Ray's.
    """

    name = "ray"

    def __init__(self, address: Optional[str] = None, init_kwargs: Optional[Dict[str, Any]] = None,
                 actor_options: Optional[Dict[str, Any]] = None,
                 niceness: Optional[int] = 0) -> None:
        if address is not None and not isinstance(address, str):
            raise TypeError("address=%r must be a Ray cluster address (a str) or None" % (address,))
        if niceness is not None:
            if isinstance(niceness, bool) or not isinstance(niceness, int):
                raise TypeError("niceness=%r must be an int from -20 to 19, or None to keep "
                                "Ray's worker niceness" % (niceness,))
            if not -20 <= niceness <= 19:
                raise ValueError("niceness=%r must be an int from -20 to 19, or None to keep "
                                 "Ray's worker niceness" % (niceness,))
        self.niceness = niceness
        for parameter, value in (("init_kwargs", init_kwargs), ("actor_options", actor_options)):
            if value is not None and not isinstance(value, dict):
                raise TypeError("%s=%r must be a dict or None" % (parameter, value))
        self.address = address
        self.init_kwargs = dict(init_kwargs or {})
        self.actor_options = dict(actor_options or {})
        self._connected_here = False  # whether this backend called ray.init (and may shut it down)

    def _connect(self, default_address: Optional[str]) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            address = self.address if self.address is not None else default_address
            init_kwargs = dict(self.init_kwargs)
            if address is None and not os.environ.get("RAY_ADDRESS") and self.niceness is not None:
                # a local cluster starts here: its workers get the shards' niceness from birth
                init_kwargs["_system_config"] = {"worker_niceness": self.niceness,
                                                 **init_kwargs.get("_system_config", {})}
            ray.init(address=address, namespace=NAMESPACE, **init_kwargs)
            self._connected_here = True
        return ray

    def disconnect(self) -> None:
        """Leave the cluster if this backend joined it (a local cluster it started ends too)."""
        if self._connected_here:
            self._connected_here = False
            _import_ray().shutdown()

    def launch(self, spec: RunSpec) -> ShardGroup:
        started_cluster = not _import_ray().is_initialized() and self.address is None and \
            not os.environ.get("RAY_ADDRESS")
        ray = self._connect(None)
        if spec.detached and started_cluster:
            _LOGGER.warning("Run %r is detached, but its Ray cluster was started by this process "
                            "and ends with it; start a lasting one with 'ray start --head' and "
                            "pass RayBackend(address='auto')", spec.name)
        remote_class = ray.remote(ShardActor)
        actors: List[Any] = []
        try:
            for index in range(spec.nshards):
                options = {"num_cpus": 1, "scheduling_strategy": "SPREAD", **self.actor_options,
                           "name": actor_name(spec.name, index), "namespace": NAMESPACE,
                           "max_restarts": spec.max_restarts,
                           "max_task_retries": -1 if spec.max_restarts else 0}
                if spec.detached:
                    options["lifetime"] = "detached"
                actors.append(remote_class.options(**options).remote(spec.as_dict(), index,
                                                                     self.niceness))
        except ValueError as error:  # ActorAlreadyExistsError is a ValueError
            _kill(ray, actors)
            raise ShardError("a run named %r is already running in this Ray cluster (namespace "
                             "%r): stop it with ShardedRun.attach(%r).stop(), or choose another "
                             "name" % (spec.name, NAMESPACE, spec.name)) from error
        group = RayShardGroup(ray, spec, actors)
        failures = []
        for index, ref in enumerate([actor.ready.remote() for actor in actors]):
            try:
                ray.get(ref, timeout=_START_TIMEOUT)
            except Exception as error:  # noqa: BLE001 - collected, then raised as one ShardError
                failures.append("shard %d: %s" % (index, _cause(error)))
        if failures:
            group.stop(timeout=30)
            raise ShardError("run %r failed to start:\n%s" % (spec.name, "\n".join(failures)))
        _LOGGER.info("Started run %r: %d shards on Ray", spec.name, spec.nshards)
        return group

    def attach(self, name: str) -> ShardGroup:
        ray = self._connect("auto")
        try:
            first = ray.get_actor(actor_name(name, 0), namespace=NAMESPACE)
        except ValueError:
            raise ShardError("no run named %r in this Ray cluster (namespace %r)"
                             % (name, NAMESPACE)) from None
        spec = RunSpec.from_dict(ray.get(first.spec.remote(), timeout=_START_TIMEOUT))
        actors = [first]
        for index in range(1, spec.nshards):
            try:
                actors.append(ray.get_actor(actor_name(name, index), namespace=NAMESPACE))
            except ValueError:
                raise ShardError("run %r: shard %d of %d is gone from the Ray cluster"
                                 % (name, index, spec.nshards)) from None
        return RayShardGroup(ray, spec, actors)


class RayShardGroup(ShardGroup):
    """The actors of one run."""

    def __init__(self, ray: Any, spec: RunSpec, actors: List[Any]) -> None:
        self._ray = ray
        self.spec = spec
        self._actors = actors

    def status(self, timeout: float, links: bool = False) -> List[Dict[str, Any]]:
        refs = [actor.status.remote(links) for actor in self._actors]
        return [self._get(index, ref, timeout, "unreachable") for index, ref in enumerate(refs)]

    def stop(self, timeout: Optional[float]) -> List[Dict[str, Any]]:
        refs = [actor.stop.remote(timeout) for actor in self._actors]
        wait = None if timeout is None else timeout + _STOP_GRACE
        results = [self._get(index, ref, wait, "lost") for index, ref in enumerate(refs)]
        _kill(self._ray, self._actors)
        return results

    def _get(self, index: int, ref: Any, timeout: Optional[float], state: str) -> Dict[str, Any]:
        try:
            result: Dict[str, Any] = self._ray.get(ref, timeout=timeout)
            return result
        except Exception as error:  # noqa: BLE001 - a shard that cannot answer is reported
            return {"shard": index, "state": state, "error": _cause(error)}


def _renice(niceness: int, index: int, run: Any) -> None:
    """Give the calling thread ``niceness``; the shard's threads, started from it, inherit it.

    On Linux niceness belongs to each thread: Ray's own threads keep theirs.
    """
    try:
        if os.getpriority(os.PRIO_PROCESS, 0) != niceness:
            os.setpriority(os.PRIO_PROCESS, 0, niceness)
    except (OSError, AttributeError) as error:  # no right to lower it, or not POSIX
        _LOGGER.warning("Shard %d of %r keeps Ray's worker niceness (%r): on a busy node its "
                        "schedule starves before other programs do. Start the cluster with "
                        "RAY_worker_niceness=%d in its environment to run shards at %d",
                        index, run, error, niceness, niceness)


def _kill(ray: Any, actors: List[Any]) -> None:
    for actor in actors:
        try:
            ray.kill(actor, no_restart=True)
        except Exception as error:  # noqa: BLE001 - already gone
            _LOGGER.debug("Killing %r: %r", actor, error)


def _cause(error: BaseException) -> str:
    """The shard-side message of a Ray error (the remote traceback), else ``repr``."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, ShardError):
        return str(cause)
    return repr(error)
