"""databay_testing.strategies: keyword-only, documented, covering every pull-return rule."""

import inspect

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis.errors import InvalidArgument
from hypothesis.strategies import SearchStrategy

from databay import Record, Update
from databay_testing import strategies

PUBLIC = ["adversarial_batches", "adversarial_keys", "adversarial_payloads", "adversarial_records",
          "adversarial_text", "adversarial_values", "cron_expressions", "intervals", "jitters",
          "metadata_dicts", "offsets", "payloads", "pull_results", "records", "schedules", "time_zones",
          "updates"]
FIRST = settings(max_examples=3000, database=None, phases=[Phase.generate],
                 suppress_health_check=list(HealthCheck))
FIND = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name", PUBLIC)
def test_strategy_is_keyword_only_documented_and_returns_a_strategy(name):
    """Each strategy takes keyword arguments only, says how it shrinks and returns a SearchStrategy."""
    function = getattr(strategies, name)
    parameters = inspect.signature(function).parameters.values()
    assert all(parameter.kind is inspect.Parameter.KEYWORD_ONLY for parameter in parameters)
    assert "Shrinks towards" in function.__doc__ and "Generate" in function.__doc__
    assert isinstance(function(), SearchStrategy)


@pytest.mark.parametrize("call, message", [
    (lambda: strategies.payloads(max_leaves=0), "max_leaves=0 must be an int >= 1"),
    (lambda: strategies.pull_results(max_size=-1), "max_size=-1 must be an int >= 0"),
    (lambda: strategies.records(payload=[1]), "payload=[1] must be a SearchStrategy or None"),
    (lambda: strategies.updates(max_tags="2"), "max_tags='2' must be an int >= 0"),
])
def test_invalid_arguments_name_the_argument_and_value(call, message):
    """A bad argument raises InvalidArgument naming the argument and the value given."""
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_all_lists_the_public_strategies():
    """__all__ lists the strategies and the list subclass."""
    assert sorted(strategies.__all__) == sorted(PUBLIC + ["ListSubclass"])


@pytest.mark.parametrize("strategy, minimal", [
    (strategies.payloads(), [None]),
    (strategies.metadata_dicts(), [{}]),
    (strategies.pull_results(), [[], None]),
])
def test_values_shrink_as_documented(strategy, minimal):
    """payloads() shrinks to None, metadata_dicts() to {}, pull_results() to [] or None."""
    assert find(strategy, lambda value: True, settings=FIND) in minimal


def leaves(value):
    """Every scalar inside a payload."""
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in leaves(item)]
    if isinstance(value, (list, tuple, set, frozenset)):
        return [leaf for item in value for leaf in leaves(item)]
    return [value]


def test_payloads_include_unusual_values():
    """payloads() produces NaN, bytearrays and non-ASCII text."""
    find(strategies.payloads(), lambda v: any(isinstance(leaf, float) and leaf != leaf for leaf in leaves(v)),
         settings=FIRST)
    find(strategies.payloads(), lambda v: isinstance(v, bytearray), settings=FIRST)
    find(strategies.payloads(), lambda v: isinstance(v, str) and not v.isascii(), settings=FIRST)


def test_records_and_updates_shrink_as_documented():
    """records() shrinks to Record(None, {}) and updates() to Update([], 0)."""
    record = find(strategies.records(), lambda value: True, settings=FIND)
    assert type(record) is Record and record.payload is None and record.metadata == {}
    update = find(strategies.updates(), lambda value: True, settings=FIND)
    assert type(update) is Update and update.tags == [] and update.transfer_number == 0


def _is_list(value):
    return isinstance(value, list)


KINDS = [
    ("None", lambda v: v is None),
    ("str", lambda v: isinstance(v, str)),
    ("number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)),
    ("tuple, set or dict", lambda v: isinstance(v, (tuple, set, frozenset, dict))),
    ("single Record", lambda v: isinstance(v, Record)),
    ("empty list", lambda v: v == [] and type(v) is list),
    ("list of values", lambda v: _is_list(v) and len(v) > 1
     and not any(isinstance(e, Record) for e in v)),
    ("list of Records", lambda v: _is_list(v) and len(v) > 1 and all(isinstance(e, Record) for e in v)),
    ("Record then value", lambda v: _is_list(v) and len(v) > 1 and isinstance(v[0], Record)
     and not isinstance(v[1], Record)),
    ("value then Record", lambda v: _is_list(v) and len(v) > 1 and not isinstance(v[0], Record)
     and isinstance(v[1], Record)),
    ("nested list", lambda v: _is_list(v) and len(v) == 1 and isinstance(v[0], list) and len(v[0]) == 2),
    ("list subclass", lambda v: type(v) is strategies.ListSubclass),
]


@pytest.mark.parametrize("kind, predicate", KINDS, ids=[kind for kind, _ in KINDS])
def test_pull_results_cover_every_rule(kind, predicate):
    """pull_results() produces every kind of value the pull-return rules distinguish."""
    find(strategies.pull_results(), predicate, settings=FIRST)


@settings(max_examples=50, deadline=None)
@given(record=strategies.records())
def test_generated_records_have_their_own_metadata_dict(record):
    """Every generated Record has a dict of str keys as metadata."""
    assert isinstance(record.metadata, dict) and all(isinstance(key, str) for key in record.metadata)


@settings(max_examples=50, deadline=None)
@given(update=strategies.updates())
def test_generated_updates_render_as_tags_and_number(update):
    """str(update) of a generated Update is its tags and number joined by dots."""
    assert str(update) == ".".join([*update.tags, str(update.transfer_number)])
