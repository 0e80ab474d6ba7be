"""RunSpec: everything a shard needs to rebuild its links, as plain picklable data.

A shard never receives a live Link or node: it gets this spec, imports the
factory named in it and calls it in its own process. That is also what lets
an engine restart a crashed shard from nothing.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, Optional

__all__ = ["RunSpec", "factory_path", "import_factory", "check_plain_data"]

_PLAIN_SCALARS = (str, int, float, bool, bytes, type(None))


class RunSpec:
    """What a sharded run is: the factory, the split, the planner settings and the name."""

    __slots__ = ("name", "factory", "nshards", "factory_kwargs", "planner_kwargs", "detached",
                 "max_restarts")

    def __init__(self, name: str, factory: str, nshards: int, factory_kwargs: Dict[str, Any],
                 planner_kwargs: Dict[str, Any], detached: bool, max_restarts: int) -> None:
        self.name = name
        self.factory = factory
        self.nshards = nshards
        self.factory_kwargs = factory_kwargs
        self.planner_kwargs = planner_kwargs
        self.detached = detached
        self.max_restarts = max_restarts

    def as_dict(self) -> Dict[str, Any]:
        """The spec as a plain dict (what backends store and send)."""
        return {slot: getattr(self, slot) for slot in self.__slots__}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> RunSpec:
        return cls(**{slot: data[slot] for slot in cls.__slots__})

    def __repr__(self) -> str:
        return "RunSpec(name=%r, factory=%r, nshards=%d)" % (self.name, self.factory, self.nshards)


def factory_path(factory: Any) -> str:
    """``"module:attribute"`` for ``factory``, given as that string or as a module-level function.

    Raises:
        TypeError: ``factory`` is neither.
        ValueError: the string is not ``module:attribute``, or the function
            cannot be imported by name in another process (a lambda, a nested
            function, or one defined in ``__main__``).
    """
    accepted = ("a 'package.module:function' string or a function defined at the top level of "
                "an importable module")
    if isinstance(factory, str):
        module, _, attribute = factory.partition(":")
        if not module or not attribute or not all(part.isidentifier() for part in
                                                  module.split(".") + attribute.split(".")):
            raise ValueError("factory=%r must be %s" % (factory, accepted))
        return factory
    if not callable(factory):
        raise TypeError("factory=%r must be %s" % (factory, accepted))
    owner = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", "")
    if not owner or owner == "__main__" or "<" in qualname or not qualname:
        raise ValueError("factory=%r cannot be imported by the shards' processes; it must be %s "
                         "(not __main__, a lambda or a nested function)" % (factory, accepted))
    return "%s:%s" % (owner, qualname)


def import_factory(path: str) -> Callable[..., Any]:
    """Import the factory named ``"module:attribute"`` (in the shard's process)."""
    module_name, _, attribute = path.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError("factory %r is %r, which is not callable" % (path, target))
    return target


def check_plain_data(name: str, value: Any, where: Optional[str] = None) -> None:
    """Raise TypeError unless ``value`` is plain data: str, numbers, bool, None, bytes,
    and lists, tuples and str-keyed dicts of them.

    Plain data pickles the same everywhere and carries no live resource, so
    the shards' processes can rebuild everything from it.
    """
    where = name if where is None else where
    if isinstance(value, _PLAIN_SCALARS):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain_data(name, item, "%s[%d]" % (where, index))
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("%s: key %r of %s must be a str" % (name, key, where))
            check_plain_data(name, item, "%s[%r]" % (where, key))
        return
    raise TypeError("%s must hold plain data only (str, int, float, bool, None, bytes, and lists "
                    "and dicts of them); %s is %r (%s). Pass what the factory needs to build it "
                    "instead, e.g. a path or a DSN" % (name, where, value, type(value).__name__))
