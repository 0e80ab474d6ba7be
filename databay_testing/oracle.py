"""The oracle: which records a value returned by ``Inlet.pull`` must become.

The rules (docs/design.md, "What a pull returns"): a ``list`` (or list subclass)
gives one record per element, in order, and ``[]`` gives none; anything else
gives exactly one record. An element (or the single value) that already is a
:class:`~databay.Record` is passed on as it is, the very same object; every
other value ``v`` becomes ``inlet.new_record(payload=v)``, a new Record whose
payload is ``v`` and whose metadata is a new dict holding the inlet's global
metadata plus ``'__inlet__': str(inlet)``.

Write a property in one line::

    @given(pull_result=strategies.pull_results())
    def test_my_conversion(pull_result):
        oracle.assert_pull_becomes(pull_result, convert(pull_result), inlet=inlet)

Pass the value exactly as ``pull`` returned it, before anything converted it
(databay never changes it; databay 0.3.0 replaced list elements in place).

This module needs only ``databay`` (no Hypothesis), so it can check any
implementation that has ``databay.Record``.
"""

from __future__ import annotations

from collections.abc import Mapping

from databay import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List

__all__ = ["assert_pull_becomes", "expected_payloads", "expected_records", "records_mismatch"]


def _elements(pull_result: Any) -> List[Any]:
    """The values a pull result stands for: a list's elements, else the value itself."""
    return list(pull_result) if isinstance(pull_result, list) else [pull_result]


def expected_payloads(pull_result: Any) -> List[Any]:
    """Return the payloads, in order, of the records ``pull_result`` must become.

    A Record element contributes its own payload; any other element is the
    payload itself. ``expected_payloads([])`` is ``[]``;
    ``expected_payloads([[1, 2]])`` is ``[[1, 2]]``; ``expected_payloads(None)``
    is ``[None]``.
    """
    return [value.payload if isinstance(value, Record) else value
            for value in _elements(pull_result)]


def expected_records(inlet: Any, pull_result: Any, *,
                     global_metadata: Mapping | None = None) -> List[Record]:
    """Return the records ``pull_result``, returned by ``inlet.pull``, must become.

    Record elements appear as the very same objects; every other value ``v``
    appears as a new ``Record(v, {**global_metadata, '__inlet__': str(inlet)})``.

    Args:
        inlet: the inlet whose pull returned ``pull_result``; gives ``str(inlet)``.
        pull_result: what ``pull`` returned, before conversion.
        global_metadata: the inlet's global metadata; defaults to
            ``inlet.metadata`` (pass it to avoid reading the inlet's metadata).
    """
    metadata = _global_metadata(inlet, global_metadata)
    label = str(inlet)
    return [value if isinstance(value, Record) else Record(value, {**metadata, "__inlet__": label})
            for value in _elements(pull_result)]


def records_mismatch(pull_result: Any, records: Any, *, inlet: Any,
                     global_metadata: Mapping | None = None) -> str | None:
    """Describe how ``records`` break the pull-return rules for ``pull_result``; None if they don't.

    Checks that ``records`` is a list with one entry per element, that each
    Record element is passed on as the same object, and that each other value
    ``v`` became a Record whose payload is ``v`` (the same object, or equal to
    it), whose metadata equals ``{**global_metadata, '__inlet__': str(inlet)}``,
    and whose metadata dict is new: not the global metadata object and not
    shared with another record.
    """
    metadata = _global_metadata(inlet, global_metadata)
    values = _elements(pull_result)
    intro = f"pull returned {_short(pull_result)}"
    if not isinstance(records, list):
        return f"{intro}; expected a list of records, got {_short(records)}"
    if len(records) != len(values):
        return (f"{intro}; expected {len(values)} record(s) ({_rule(pull_result)}), "
                f"got {len(records)}: {_short(records)}")
    seen: Dict[int, int] = {}
    for index, (value, record) in enumerate(zip(values, records)):
        problem = _element_mismatch(value, record, metadata, inlet, metadata_owner=seen, index=index)
        if problem is not None:
            return f"{intro}; record {index}: {problem}"
    return None


def assert_pull_becomes(pull_result: Any, records: Any, *, inlet: Any,
                        global_metadata: Mapping | None = None) -> None:
    """Raise AssertionError (saying what differs) unless ``records`` is what ``pull_result`` must become."""
    problem = records_mismatch(pull_result, records, inlet=inlet, global_metadata=global_metadata)
    if problem is not None:
        raise AssertionError(problem)


def _element_mismatch(value: Any, record: Any, global_metadata: Mapping, inlet: Any, *,
                      metadata_owner: Dict[int, int], index: int) -> str | None:
    if isinstance(value, Record):
        if record is not value:
            return (f"expected the Record {_short(value)} itself (Records that pull returns are "
                    "passed on as they are), "
                    f"got {_short(record)}")
        return None
    if not isinstance(record, Record):
        return (f"expected a new Record with payload {_short(value)} (plain values become "
                f"inlet.new_record(payload=value)), got {_short(record)} ({type(record).__name__}), "
                "which is not a Record")
    if not _same(record.payload, value):
        return f"expected payload {_short(value)}, got {_short(record.payload)}"
    expected: Dict[str, Any] = {**global_metadata, "__inlet__": str(inlet)}
    if not isinstance(record.metadata, dict) or not _same(record.metadata, expected):
        return (f"expected metadata {_short(expected)} (global metadata plus '__inlet__'), "
                f"got {_short(record.metadata)}")
    if record.metadata is global_metadata:
        return "its metadata is the inlet's global metadata object itself; expected a new dict"
    owner = metadata_owner.setdefault(id(record.metadata), index)
    if owner != index:
        return f"it shares its metadata dict with record {owner}; every record needs its own dict"
    return None


def _global_metadata(inlet: Any, global_metadata: Mapping | None) -> Mapping:
    return inlet.metadata if global_metadata is None else global_metadata


def _same(actual: Any, expected: Any) -> bool:
    """Identical, or equal (``[a] == [b]`` so that a NaN equals itself)."""
    if actual is expected:
        return True
    try:
        return bool([actual] == [expected])
    except Exception:  # noqa: BLE001 - an __eq__ that raises means "not equal" here
        return False


def _rule(pull_result: Any) -> str:
    if isinstance(pull_result, list):
        return "one per element of the list"
    return f"a {type(pull_result).__name__} is not a list, so exactly one"


def _short(value: Any, limit: int = 120) -> str:
    try:
        text = repr(value)
    except Exception as error:  # noqa: BLE001 - a broken __repr__ must not hide the finding
        text = f"<{type(value).__name__} with a failing repr: {error!r}>"
    return text if len(text) <= limit else text[:limit - 3] + "..."
