"""Record: one unit of data travelling from inlets to outlets."""

from __future__ import annotations

from ._copy import _IMMUTABLE, copy_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple


class Record:
    """Data (``payload``) plus the ``metadata`` dict describing it.

    Prefer :meth:`Inlet.new_record <databay.inlet.Inlet.new_record>`, which
    attaches the inlet's metadata. Both attributes are assignable, so a
    processor may transform records in place, and a record takes other
    attributes too (``record.source = ...``), as in databay 0.3.0; copies
    made for outlets carry them. Records compare by identity, as in 0.3.0.

    ``str(record)`` is 0.3.0's text, ``Record(payload=hello, metadata={...})``
    (what :class:`~databay.outlets.PrintOutlet` prints); ``repr(record)``
    shows the payload's repr, ``Record(payload='hello', ...)``, so ``'1'``
    and ``1`` look different in logs and debuggers.

    Args:
        payload: the data, any object.
        metadata: a dict of metadata; ``None`` becomes a new empty dict.
    """

    # Slots keep the two hot attributes fast; ``__dict__`` keeps any others possible.
    __slots__ = ("payload", "metadata", "__dict__", "__weakref__")

    def __init__(self, payload: Any, metadata: Optional[Dict[str, Any]] = None) -> None:
        self.payload = payload
        self.metadata = {} if metadata is None else metadata

    def __repr__(self) -> str:
        return "Record(payload=%r, metadata=%r)" % (self.payload, self.metadata)

    def __str__(self) -> str:
        return "Record(payload=%s, metadata=%s)" % (self.payload, self.metadata)


def copy_records(records: List[Record]) -> List[Record]:
    """Return a deep copy of ``records`` (one memo, so shared objects stay shared).

    Attributes set on a record besides ``payload`` and ``metadata`` are copied too.
    """
    return _copy_with_memo(records, {})


def _copy_with_memo(records: List[Record], memo: dict) -> List[Record]:
    copied = []
    for record in records:
        if type(record) is Record:
            new = Record(copy_value(record.payload, memo), copy_value(record.metadata, memo))
            extra = record.__dict__
            if extra:
                new.__dict__.update(copy_value(extra, memo))
            copied.append(new)
        else:
            import copy

            copied.append(copy.deepcopy(record, memo))
    return copied


def _copy_each_record(records: List[Record]) -> Tuple[List[Record], List[Tuple[int, Exception]]]:
    """Deep-copy ``records`` one by one: the copies, and ``(index, error)`` for each record
    that cannot be copied (too deep, a lock inside...), so one bad record fails alone."""
    try:
        flat = _copy_flat(records)
    except Exception:  # noqa: BLE001 - e.g. a dict changed meanwhile: the general path says which
        flat = None
    if flat is not None:
        return flat, []
    memo: dict = {}
    copied = []
    failed = []
    for index, record in enumerate(records):
        try:
            if type(record) is Record and not record.__dict__:  # the common shape, without a list
                payload = record.payload
                if type(payload) not in _IMMUTABLE:
                    payload = copy_value(payload, memo)
                copied.append(Record(payload, copy_value(record.metadata, memo)))
                continue
            copied.extend(_copy_with_memo([record], memo))
        except Exception as error:  # noqa: BLE001 - reported by the caller, with the record
            failed.append((index, error))
            memo = {}  # the failed copy may have left half-built objects in the memo
    return copied, failed


def _copy_flat(records: List[Record]) -> Optional[List[Record]]:
    """The copies of ``records`` if they all have the usual shape, else None.

    The usual shape: a plain Record (no extra attributes) whose payload is a
    scalar or a dict of scalars and whose metadata is a dict of scalars, no
    dict appearing twice in the batch. For it ``dict.copy()`` is a deep copy,
    and this loop makes one per dict without the per-value calls and the memo
    of the general path, which handles every other batch (and keeps dicts
    shared between records shared in the copies).
    """
    immutable = _IMMUTABLE
    copied: List[Record] = []
    append = copied.append
    seen: dict = {}  # id -> copy of every dict copied: fewer entries than dicts means one was shared
    dicts = 0
    for record in records:
        if type(record) is not Record or record.__dict__:
            return None
        payload = record.payload
        kind = type(payload)
        if kind is dict:
            new = seen[id(payload)] = payload.copy()
            for key, value in payload.items():
                if type(key) not in immutable or type(value) not in immutable:
                    return None
            payload = new
            dicts += 1
        elif kind not in immutable:
            return None
        metadata = record.metadata
        if type(metadata) is not dict:
            return None
        new = seen[id(metadata)] = metadata.copy()
        for key, value in metadata.items():
            if type(key) not in immutable or type(value) not in immutable:
                return None
        append(Record(payload, new))
    if len(seen) != dicts + len(copied):
        return None
    return copied
