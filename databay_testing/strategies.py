"""Hypothesis strategies for databay: payloads, metadata, records, updates, pull results.

Every function is keyword-only and returns a ``SearchStrategy``. Combine them
with :mod:`databay_testing.oracle` to state a property in one line::

    from hypothesis import given
    from databay_testing import oracle, strategies

    @given(pull_result=strategies.pull_results())
    def test_pull_rules(pull_result):
        inlet = ReturningInlet(pull_result)
        oracle.assert_pull_becomes(pull_result, pull_through_a_link(inlet), inlet=inlet)

This module imports Hypothesis (install ``databay[testing]``); ``databay``
itself never does.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from databay import Record, Update

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ListSubclass", "metadata_dicts", "payloads", "pull_results", "records", "updates"]

#: Keys drawn often, so global and local metadata collide and ``'__inlet__'``
#: (which databay always overwrites) turns up.
COMMON_KEYS = ("source", "id", "__inlet__")


class ListSubclass(list):
    """A list subclass; the pull-return rules treat it exactly like a list."""

    def __repr__(self) -> str:
        return f"ListSubclass({list.__repr__(self)})"


def _check_size(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be an int >= {minimum}")


def _check_strategy(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, SearchStrategy):
        raise InvalidArgument(f"{name}={value!r} must be a SearchStrategy or None")


def _text() -> SearchStrategy:
    # No lone surrogates: they cannot be encoded, and no real source produces them.
    return st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


def _hashable_scalars() -> SearchStrategy:
    return st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), _text(), st.binary(max_size=8))


def payloads(*, max_leaves: int = 8) -> SearchStrategy:
    """Generate payloads: anything a source might hand to ``new_record``.

    Scalars (None, bools, ints of any size, floats including NaN, infinities
    and -0.0, str including empty and non-ASCII, bytes), a mutable
    ``bytearray``, and containers of them nested up to ``max_leaves`` leaves:
    lists, tuples, dicts with str keys, sets and frozensets. Shrinks towards
    ``None``, then towards smaller scalars, then towards shallower, shorter
    containers.
    """
    _check_size("max_leaves", max_leaves, 1)
    scalars = st.one_of(_hashable_scalars(), st.binary(max_size=8).map(bytearray))

    def containers(children: SearchStrategy) -> SearchStrategy:
        return st.one_of(
            st.lists(children, max_size=4),
            st.lists(children, max_size=4).map(tuple),
            st.dictionaries(_text(), children, max_size=4),
            st.sets(_hashable_scalars(), max_size=4),
            st.frozensets(_hashable_scalars(), max_size=4),
        )

    nested = st.recursive(scalars, containers, max_leaves=max_leaves)
    # About half scalars, half containers (st.recursive alone rarely gives a scalar).
    return st.booleans().flatmap(lambda container: nested if container else scalars)


def metadata_dicts(*, values: SearchStrategy | None = None, max_size: int = 4) -> SearchStrategy:
    """Generate metadata dicts with str keys, up to ``max_size`` entries.

    Keys come often from a small pool (``'source'``, ``'id'``, ``'__inlet__'``)
    so that two drawn dicts share keys, otherwise from arbitrary text. Values
    come from ``values`` (default: scalar payloads). Shrinks towards ``{}``.
    """
    _check_strategy("values", values)
    _check_size("max_size", max_size, 0)
    keys = st.one_of(st.sampled_from(COMMON_KEYS), _text())
    return st.dictionaries(keys, _hashable_scalars() if values is None else values, max_size=max_size)


def records(*, payload: SearchStrategy | None = None,
            metadata: SearchStrategy | None = None) -> SearchStrategy:
    """Generate ``Record(payload, metadata)`` objects, each with its own metadata dict.

    ``payload`` defaults to :func:`payloads`, ``metadata`` to
    :func:`metadata_dicts`. Shrinks towards ``Record(payload=None, metadata={})``.
    """
    _check_strategy("payload", payload)
    _check_strategy("metadata", metadata)
    return st.builds(Record,
                     payload=payloads() if payload is None else payload,
                     metadata=metadata_dicts() if metadata is None else metadata)


def updates(*, max_tags: int = 3) -> SearchStrategy:
    """Generate ``Update(tags, transfer_number)`` objects.

    Up to ``max_tags`` non-empty str tags and a transfer number >= 0.
    Shrinks towards ``Update([], 0)``.
    """
    _check_size("max_tags", max_tags, 0)
    tags = st.lists(_text().filter(bool), max_size=max_tags)
    return st.builds(Update, tags=tags, transfer_number=st.integers(min_value=0))


def pull_results(*, payload: SearchStrategy | None = None, record: SearchStrategy | None = None,
                 max_size: int = 5) -> SearchStrategy:
    """Generate values an ``Inlet.pull`` may return.

    Covers every row of the pull-return rules: single values that are not
    lists (None, scalars, str, tuples, sets, dicts), a single Record, the empty
    list, lists of values, lists of Records, lists mixing both in any order,
    nested lists such as ``[[a, b]]``, and list subclasses. Lists hold up to
    ``max_size`` elements; ``payload`` and ``record`` default to
    :func:`payloads` and :func:`records`. Shrinks towards ``[]`` or ``None``,
    then towards short lists of ``None`` and ``Record(payload=None, metadata={})``
    (a mixed-list failure typically shrinks to ``[Record(payload=None,
    metadata={}), None]``).
    """
    _check_strategy("payload", payload)
    _check_strategy("record", record)
    _check_size("max_size", max_size, 0)
    value = payloads() if payload is None else payload
    record_ = records() if record is None else record
    element = st.one_of(value, record_)
    return st.one_of(
        value,
        record_,
        st.lists(element, max_size=max_size),
        st.lists(st.lists(value, max_size=3), min_size=1, max_size=max_size),
        st.lists(element, max_size=max_size).map(ListSubclass),
    )
