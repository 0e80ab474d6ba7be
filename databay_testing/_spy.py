"""A spy for an inlet's global metadata: which code read or changed it.

How reads by the inlet are told apart from reads by databay itself
-------------------------------------------------------------------
databay builds records from the global metadata (``new_record`` and the
pull-return conversion read it, and ``Inlet.__repr__`` shows it), so *some*
reads are expected, and their number depends on the inlet's output. Counting
reads would tie the kit to databay's internals. Instead, every access to the
spy looks at the Python stack that made it: it walks outwards from the spy,
skipping the spy's own frames and standard-library frames (``collections.abc``
mixins, ``copy``, ``asyncio``...), and takes the first remaining frame as the
*origin*. An access is allowed when the origin's module is the one that
defines :class:`databay.Inlet` (``databay.inlet``): that is databay's own
record-building code, even when it was reached from the inlet's ``pull`` via
``self.new_record(...)``. It is also allowed when it happens inside the
inlet's own ``__repr__``/``__str__`` (its metadata shown, e.g. in the
``'__inlet__'`` string ``new_record`` adds): showing metadata is not using it.
Any other origin (the inlet's ``pull``, ``on_start``, an override of
``new_record``, a helper it calls) is reported with its function name, file
and line. Accesses made from C code, such as
``dict(metadata)`` or ``{**metadata}``, have the Python frame that ran them as
origin, so they are attributed correctly. Changes (``m[k] = v``, ``del``,
``update``, ``pop``...) are always reported, whoever makes them.
"""

from __future__ import annotations

import copy
import sys
import sysconfig
from collections.abc import MutableMapping
from types import FrameType
from typing import Any, Dict, Iterator, List, NamedTuple


class Access(NamedTuple):
    """One read or change of the spied metadata."""

    operation: str  #: e.g. ``"get('source')"`` or ``"['id'] = ..."``
    where: str  #: the origin: ``"MyInlet.pull (my_inlet.py:12)"``
    allowed: bool  #: made by databay's record-building code
    mutates: bool  #: a change rather than a read

_DISPLAY_METHODS = frozenset({"__repr__", "__str__", "__format__"})
_STDLIB_NAMES = getattr(sys, "stdlib_module_names", None)  # Python 3.10+
_STDLIB_DIRS = tuple({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]})


def _is_stdlib(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__") or ""
    if _STDLIB_NAMES is not None:
        return name.partition(".")[0] in _STDLIB_NAMES
    filename = frame.f_code.co_filename
    return filename.startswith("<frozen") or (
        filename.startswith(_STDLIB_DIRS) and "site-packages" not in filename)


def _describe(frame: FrameType | None) -> str:
    if frame is None:
        return "unknown code"
    code = frame.f_code
    name = getattr(code, "co_qualname", None)  # Python 3.11+
    if name is None:  # older Pythons: qualify a method by the class of its ``self``
        owner = frame.f_locals.get("self")
        name = code.co_name if owner is None else f"{type(owner).__qualname__}.{code.co_name}"
    return f"{name} ({code.co_filename}:{frame.f_lineno})"


class MetadataSpy(MutableMapping):
    """A mutable mapping that records every read and change and where it came from.

    Args:
        data: the contents; copied into the spy's own dict.
        allowed_module: ``__name__`` of the module whose reads are allowed.
    """

    def __init__(self, data: Dict[str, Any], allowed_module: str) -> None:
        self._data = dict(data)
        self._allowed_module = allowed_module
        self.accesses: List[Access] = []

    # -- bookkeeping ---------------------------------------------------------

    def _note(self, operation: str, mutates: bool = False) -> None:
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and (frame.f_globals.get("__name__") == __name__ or _is_stdlib(frame)):
            frame = frame.f_back
        allowed = frame is not None and (frame.f_globals.get("__name__") == self._allowed_module
                                          or self._in_own_repr(frame))
        self.accesses.append(Access(operation, _describe(frame), allowed, mutates))

    def _in_own_repr(self, frame: FrameType | None) -> bool:
        """Whether ``frame`` runs inside ``__repr__``/``__str__`` of the node this spy serves.

        A node's repr may show its metadata (databay's own ``Inlet.__repr__``
        does, and ``str(inlet)`` fills ``'__inlet__'``); displaying it is not
        the inlet *using* it, so such reads are allowed wherever the repr is
        asked for. The node is recognised by holding this spy as ``_metadata``.
        """
        while frame is not None:
            if frame.f_code.co_name in _DISPLAY_METHODS:
                owner = frame.f_locals.get("self")
                if owner is not None and getattr(owner, "_metadata", None) is self:
                    return True
            frame = frame.f_back
        return False

    @property
    def contents(self) -> Dict[str, Any]:
        """The current contents, read without being recorded."""
        return self._data

    def reads(self) -> List[Access]:
        """Reads whose origin is not databay's record-building code."""
        return [access for access in self.accesses if not access.allowed and not access.mutates]

    def changes(self) -> List[Access]:
        """Every change, whoever made it."""
        return [access for access in self.accesses if access.mutates]

    # -- reading ------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        self._note(f"[{key!r}]")
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        self._note("iter()")
        return iter(self._data)

    def __len__(self) -> int:
        self._note("len()")
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        self._note(f"{key!r} in")
        return key in self._data

    def keys(self) -> Any:
        self._note("keys()")
        return self._data.keys()

    def items(self) -> Any:
        self._note("items()")
        return self._data.items()

    def values(self) -> Any:
        self._note("values()")
        return self._data.values()

    def get(self, key: str, default: Any = None) -> Any:
        self._note(f"get({key!r})")
        return self._data.get(key, default)

    def copy(self) -> Dict[str, Any]:
        self._note("copy()")
        return dict(self._data)

    def __eq__(self, other: object) -> bool:
        self._note("==")
        return self._data == (other._data if isinstance(other, MetadataSpy) else other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # type: ignore[assignment]

    def __or__(self, other: Any) -> Dict[str, Any]:
        self._note("|")
        return {**self._data, **other}

    def __ror__(self, other: Any) -> Dict[str, Any]:
        self._note("|")
        return {**other, **self._data}

    def __repr__(self) -> str:
        self._note("repr()")
        return repr(self._data)

    def __copy__(self) -> Dict[str, Any]:
        self._note("copy.copy()")
        return dict(self._data)

    def __deepcopy__(self, memo: dict) -> Dict[str, Any]:
        self._note("copy.deepcopy()")
        return copy.deepcopy(self._data, memo)

    # -- changing -----------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self._note(f"[{key!r}] = ...", mutates=True)
        self._data[key] = value

    def __delitem__(self, key: str) -> None:
        self._note(f"del [{key!r}]", mutates=True)
        del self._data[key]

    def __ior__(self, other: Any) -> MetadataSpy:
        self._note("|=", mutates=True)
        self._data.update(other)
        return self


def summarise(accesses: List[Access], limit: int = 5) -> str:
    """One line per distinct (operation, origin), at most ``limit`` lines."""
    lines: List[str] = []
    for access in accesses:
        line = f"  {access.operation} by {access.where}"
        if line not in lines:
            lines.append(line)
    more = len(lines) - limit
    return "\n".join(lines[:limit] + ([f"  ... and {more} more"] if more > 0 else []))
