"""Inlet: the producing end of a link."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ._coroutines import is_awaitable, is_coroutine_callable
from ._lifecycle import Lifecycle, check_initialised
from ._validation import check_mapping
from .record import Record
from .update import Update

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Dict, List, Optional


class Inlet(Lifecycle, ABC):
    """Produces data in :meth:`pull`; subclass it and implement ``pull``.

    ``pull`` may be ``def`` or ``async def``. What it returns becomes records:
    a list gives one record per element (``[]`` gives none), anything else
    gives exactly one record. Elements that are already :class:`Record` pass
    as they are; every other value ``v`` becomes ``self.new_record(payload=v)``.

    Args:
        metadata: global metadata attached to every record this inlet creates;
            a mapping or None. The inlet never mutates it.

    Raises:
        TypeError: ``metadata`` is not a mapping or None.
    """

    def __init__(self, metadata: Optional[Mapping] = None) -> None:
        # the caller's object, not a copy; without one this inlet's own dict, which subclasses
        # written for 0.3.0 fill through self._metadata (an empty dict is not tracked by the GC)
        self._metadata: Mapping = {} if metadata is None else check_mapping("metadata", metadata)
        self._active = False  # all _init_lifecycle sets, without its call: inlets are built by the thousand
        self._uses_coroutine = is_coroutine_callable(self.pull)

    @property
    def metadata(self) -> Mapping:
        """The global metadata given at construction (the same object, not a copy); without
        any, this inlet's own dict, which ``pull`` may fill."""
        check_initialised(self)
        return self._metadata

    @abstractmethod
    def pull(self, update: Update) -> Any:
        """Produce new data for the transfer ``update``; see the class docstring."""
        raise NotImplementedError()

    def on_delivered(self, update: Update) -> None:
        """Called once the records of the pull ``update`` are safe; the default does nothing.

        Safe means: committed to the link's journal (``Link(journal=...)``), or,
        without a journal, pushed by every outlet (or dead-lettered), including
        after Buffers and retries. Calls come in pull order; a pull whose
        records were lost is never acknowledged. A cursor-based inlet commits
        its cursor here, so a restart resumes after what was delivered. A
        ``def`` method (an awaitable it returns is awaited); an exception is
        reported like a failing pull.
        """

    def new_record(self, payload: Any, metadata: Optional[Mapping] = None) -> Record:
        """Return a Record of ``payload`` with a new metadata dict.

        The dict holds this inlet's global metadata, then ``metadata`` on top
        (local wins on equal keys), then ``'__inlet__': str(self)``.
        """
        if metadata is not None:
            check_mapping("metadata", metadata)
        return Record(payload, self._record_metadata(metadata))

    def _record_metadata(self, local: Optional[Mapping] = None) -> Dict[str, Any]:
        """A new dict: global metadata, ``local`` on top, ``'__inlet__'`` always last."""
        try:
            merged = {**self._metadata} if local is None else {**self._metadata, **local}
        except AttributeError:
            check_initialised(self)
            raise
        merged.pop("__inlet__", None)  # re-added below, so it is always the last key
        label = None if self._metadata else _default_label(type(self))
        merged["__inlet__"] = str(self) if label is None else label
        return merged

    def _fixed_label(self) -> Optional[str]:
        """``str(self)`` if no pull can change it and records follow the default rules, else None.

        True for an inlet without metadata (checked again per pull: the mapping
        is the caller's) whose class keeps the default ``__repr__``/``__str__``,
        ``new_record`` and ``_to_records``: a transfer then builds its record
        without calling ``str(self)`` (see ``_transfer.transfer_plain``).
        """
        kind = type(self)
        if kind.new_record is not Inlet.new_record or kind._to_records is not Inlet._to_records or \
                kind._record_metadata is not Inlet._record_metadata or \
                getattr(self._to_records, "__func__", None) is not Inlet._to_records:
            return None  # (an instance's own _to_records: not ``vars(self)``, which builds a dict)
        return _default_label(kind)

    def _to_records(self, data: Any) -> List[Record]:
        """Turn what ``pull`` returned into records (the pull-return rules)."""
        if type(self).new_record is Inlet.new_record and not isinstance(data, list):  # one record
            metadata = self._record_metadata()  # also for a Record, as for any pull: str(self) once
            return [data if isinstance(data, Record) else Record(data, metadata)]
        values = data if isinstance(data, list) else [data]
        if not values:
            return []
        if type(self).new_record is not Inlet.new_record:  # honour an override
            return [value if isinstance(value, Record) else self.new_record(payload=value)
                    for value in values]
        copy = self._record_metadata().copy  # one template per pull, a copy per record
        return [value if isinstance(value, Record) else Record(value, copy()) for value in values]

    async def _pull(self, update: Update) -> List[Record]:
        """Pull once and return the records: databay 0.3.0's private coroutine.

        Kept because 0.3.0's own tests, which users copied into theirs, call
        ``asyncio.run(inlet._pull(update))``. databay itself does not use it.
        """
        data = self.pull(update)
        if is_awaitable(data):
            data = await data
        return self._to_records(data)

    def __repr__(self) -> str:
        metadata = getattr(self, "_metadata", None)
        if metadata:
            return "%s(metadata=%r)" % (type(self).__name__, metadata)
        return "%s()" % type(self).__name__


def _default_label(kind: type) -> Optional[str]:
    """``str()`` of an inlet of class ``kind`` without global metadata, if ``kind`` keeps the
    default ``__repr__``/``__str__`` (so no call is needed); else None."""
    if kind.__repr__ is Inlet.__repr__ and kind.__str__ is object.__str__:
        return "%s()" % kind.__name__
    return None
