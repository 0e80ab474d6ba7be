"""Hypothesis strategies for databay: payloads, metadata, records, updates, pull results,
adversarial payloads for outlets, and schedules.

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

import math

from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from databay import Record, Update

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ListSubclass", "adversarial_batches", "adversarial_keys", "adversarial_payloads",
           "adversarial_records", "adversarial_text", "adversarial_values", "cron_expressions",
           "intervals", "jitters", "schedules", "time_zones",
           "metadata_dicts", "offsets", "payloads", "pull_results", "records", "updates"]

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


# -- adversarial payloads for outlets -------------------------------------

#: Longer than the csv module's default field size limit (131,072 characters).
HUGE = 131_073

#: Text that a spreadsheet runs as a formula, or that breaks naive SQL.
NASTY_STRINGS = (
    "=1+2", "+1", "-1", "@SUM(A1:A2)", "=HYPERLINK(\"http://x\")", "\t=1", "\r=1",
    "'; DROP TABLE records; --", "\" OR \"1\"=\"1", "`x`", "x\"y", "[a]", "a b", "",
    "__inlet__", "rowid", "SELECT", "NULL", "1e309", "nan", "\n", "\r\n", ",", "\ufeff",
)


def _with_surrogate(prefix: str, code: int, suffix: str) -> str:
    return prefix + chr(code) + suffix


def _repeat(piece: str, length: int) -> str:
    return (piece * (length // len(piece) + 1))[:length]


def _nest(depth: int, kind: bool) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value} if kind else [value]
    return value


def adversarial_text(*, huge: bool = True) -> SearchStrategy:
    """Generate str an outlet must store faithfully or refuse cleanly.

    Lone surrogates (which no encoding accepts) inside ordinary text, NUL bytes,
    newlines and carriage returns, text a spreadsheet runs as a formula or
    that looks like SQL, and (with ``huge``) strings longer than the csv
    module's field limit (131,073 to 262,144 characters). Shrinks towards
    ``''``, then towards short ordinary text.
    """
    if not isinstance(huge, bool):
        raise InvalidArgument(f"huge={huge!r} must be True or False")
    # Few, cheap draws per value: the adversarial tests draw thousands of these while shrinking.
    around = st.sampled_from(["", "a", "caf\u00e9 ", "\u884c", "x y", "\U0001f600"])
    kinds = [
        _text(),
        st.sampled_from(NASTY_STRINGS),
        st.builds(_with_surrogate, around, st.integers(0xD800, 0xDFFF), around),
        st.builds(_with_surrogate, st.just(""), st.sampled_from([0xD800, 0xDBFF, 0xDC00, 0xDFFF]), around),
        st.builds(lambda a, b: a + "\x00" + b, around, around),
        st.text(st.sampled_from("\x00\n\r\",;=+-@\t'\\"), min_size=1, max_size=6),
    ]
    if huge:
        kinds.append(st.builds(_repeat, st.sampled_from(["x", "\u00e9", "a,b", "\u20ac"]),
                               st.integers(HUGE, 2 * HUGE - 2)))
    return st.one_of(*kinds)


def adversarial_keys(*, huge: bool = True) -> SearchStrategy:
    """Generate dict keys an outlet must handle: :func:`adversarial_text` and non-str keys.

    Non-str keys: ints (also beyond 64 bits), floats (NaN, infinities), None,
    booleans, bytes and tuples. Shrinks towards ``None``, then ``''``.
    """
    return st.one_of(adversarial_text(huge=huge), st.integers(), st.floats(), st.none(),
                     st.booleans(), st.binary(max_size=4), st.tuples(st.integers(), _text()))


def adversarial_values(*, huge: bool = True, max_depth: int = 500) -> SearchStrategy:
    """Generate values an outlet must store faithfully or refuse cleanly.

    :func:`adversarial_text`, NaN and ±infinity, integers beyond 64 bits (up
    to 2**200 either sign), 64-bit edges, JSON-like containers nested 1 to
    ``max_depth`` deep (dicts or lists; deep nesting breaks ``json``,
    ``copy.deepcopy`` and recursive writers), None, booleans and bytes.
    Shrinks towards ``None``, then ``''``.
    """
    _check_size("max_depth", max_depth, 1)
    text = adversarial_text(huge=huge)
    return st.one_of(
        text, text, text,  # text carries most of the attacks: give it a third of the draws
        st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]),
        st.one_of(st.integers(2**63, 2**200), st.integers(-2**200, -2**63 - 1),
                  st.sampled_from([2**63 - 1, -2**63, 2**64 - 1, 2**64])),
        st.builds(_nest, st.integers(1, max_depth), st.booleans()),
        st.one_of(st.none(), st.booleans(), st.binary(max_size=8)),
    )


def adversarial_payloads(*, huge: bool = True, max_size: int = 4) -> SearchStrategy:
    """Generate dict payloads for outlets: adversarial keys mapping to adversarial values.

    Dicts of 1 to ``max_size`` entries, :func:`adversarial_keys` to
    :func:`adversarial_values` (dicts are what most outlets take; for an
    outlet that writes any payload, draw from
    ``st.one_of(adversarial_payloads(), adversarial_values())``).
    Shrinks towards small dicts of short keys.
    """
    _check_size("max_size", max_size, 1)
    return st.dictionaries(adversarial_keys(huge=huge), adversarial_values(huge=huge),
                           min_size=1, max_size=max_size)


def adversarial_records(*, huge: bool = True, max_size: int = 4) -> SearchStrategy:
    """Generate ``Record(payload, {})`` with :func:`adversarial_payloads`.

    The metadata stays empty, so the records go to the outlet's defaults.
    Shrinks towards ``Record(payload={None: None}, metadata={})``.
    """
    return st.builds(Record, payload=adversarial_payloads(huge=huge, max_size=max_size),
                     metadata=st.builds(dict))


#: Column names ordinary records use too, so adversarial rows land in existing columns.
COMMON_COLUMNS = ("id", "name", "value", "count", "note")


def adversarial_batches(*, huge: bool = True, max_records: int = 5, max_keys: int = 4) -> SearchStrategy:
    """Generate batches shaped like rows of one table, with adversarial keys and values.

    Each batch draws 1 to ``max_keys`` keys once (from :data:`COMMON_COLUMNS`,
    which ordinary records use too, and from :func:`adversarial_keys`); each of
    its 2 to ``max_records`` records (two at least: a push that fails half-way
    needs a first half) has a dict payload with the first key and
    any of the others, mapped to :func:`adversarial_values`, and empty
    metadata. Rows sharing columns reach the code paths that append to an
    existing table or file, where a failure half-way is most likely to leave
    half a batch behind. Shrinks towards two records ``Record(payload={'id': None}, metadata={})``.
    """
    _check_size("max_records", max_records, 2)
    _check_size("max_keys", max_keys, 1)
    values = adversarial_values(huge=huge)
    key = st.one_of(st.sampled_from(COMMON_COLUMNS), adversarial_keys(huge=huge))

    def rows(keys: list) -> SearchStrategy:
        payload = st.fixed_dictionaries({keys[0]: values}, optional={k: values for k in keys[1:]})
        return st.lists(st.builds(Record, payload=payload, metadata=st.builds(dict)),
                        min_size=2, max_size=max_records)

    return st.lists(key, min_size=1, max_size=max_keys, unique_by=repr).flatmap(rows)


# -- schedules --------------------------------------------------------------


def intervals(*, min_value: float = 0.001, max_value: float = 86_400.0) -> SearchStrategy:
    """Generate intervals in seconds (floats) between ``min_value`` and ``max_value``.

    Favours round values a user would write (1, 5, 60, 0.5, 3600) and also
    draws arbitrary floats in the range. Shrinks towards the smallest round
    value in the range.
    """
    _check_positive("min_value", min_value)
    _check_positive("max_value", max_value)
    if min_value > max_value:
        raise InvalidArgument(f"min_value={min_value!r} must be <= max_value={max_value!r}")
    round_values = [v for v in (0.001, 0.01, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0,
                                300.0, 900.0, 3600.0, 86_400.0) if min_value <= v <= max_value]
    arbitrary = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)
    return st.one_of(st.sampled_from(round_values), arbitrary) if round_values else arbitrary


def offsets(*, interval: float = 60.0) -> SearchStrategy:
    """Generate offsets in seconds in ``[0, interval)``, for grids aligned with an offset.

    Shrinks towards ``0.0``.
    """
    _check_positive("interval", interval)
    return st.one_of(st.just(0.0), st.floats(0.0, interval, exclude_max=True, allow_nan=False))


def jitters(*, interval: float = 60.0) -> SearchStrategy:
    """Generate jitter bounds in seconds in ``[0, interval)``. Shrinks towards ``0.0``."""
    return offsets(interval=interval)


def _cron_field(low: int, high: int) -> SearchStrategy:
    def value() -> SearchStrategy:
        return st.integers(low, high)

    def ranged(a: int, b: int) -> str:
        return f"{min(a, b)}-{max(a, b)}"

    return st.one_of(
        st.just("*"),
        value().map(str),
        st.integers(2, max(2, (high - low + 1) // 2)).map(lambda step: f"*/{step}"),
        st.builds(ranged, value(), value()),
        st.builds(lambda a, b, step: f"{ranged(a, b)}/{step}", value(), value(), st.integers(1, 5)),
        st.lists(value(), min_size=2, max_size=4, unique=True).map(
            lambda values: ",".join(str(v) for v in sorted(values))),
    )


def cron_expressions() -> SearchStrategy:
    """Generate 5-field cron expressions that fire at least once every year.

    Fields: minute (0-59), hour (0-23), day of month (1-28, so every month
    has it), month (1-12), day of week (0-6, 0 is Sunday). Each field is
    ``*``, a value, ``*/step``, a range ``a-b``, a stepped range ``a-b/s`` or a
    list ``a,b``. Shrinks towards ``'* * * * *'``.
    """
    return st.builds(lambda *fields: " ".join(fields), _cron_field(0, 59), _cron_field(0, 23),
                     _cron_field(1, 28), _cron_field(1, 12), _cron_field(0, 6))


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise InvalidArgument(f"{name}={value!r} must be a finite number > 0")


#: Zones with daylight-saving changes of one hour, of half an hour (Lord Howe), and none.
TIME_ZONES = (None, "UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata")


def time_zones() -> SearchStrategy:
    """Generate time zone names for ``Cron(tz=...)``: None (UTC) and zones with odd DST rules.

    Shrinks towards ``None``.
    """
    return st.sampled_from(TIME_ZONES)


def schedules(*, min_interval: float = 30.0, max_interval: float = 3600.0) -> SearchStrategy:
    """Generate ``databay.Every`` and ``databay.Cron`` schedules.

    ``Every`` with an interval from :func:`intervals` (``min_interval`` to
    ``max_interval``), ``align`` either way, and an offset and jitter below the
    interval; ``Cron`` from :func:`cron_expressions` in one of :func:`time_zones`.
    Shrinks towards ``Every(min_interval)``.
    """
    from databay import Cron, Every

    _check_positive("min_interval", min_interval)
    _check_positive("max_interval", max_interval)

    def every(seconds: float, align: bool, offset_part: float, jitter_part: float) -> Any:
        return Every(seconds, align=align, offset=round(offset_part * seconds, 3),
                     jitter=round(jitter_part * seconds, 3))

    fraction = st.one_of(st.just(0.0), st.floats(0.0, 0.99))
    return st.one_of(
        st.builds(every, intervals(min_value=min_interval, max_value=max_interval), st.booleans(),
                  fraction, fraction),
        st.builds(Cron, cron_expressions(), time_zones()),
    )
