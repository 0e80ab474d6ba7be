"""databay_testing.oracle: the table of pull results in docs/design.md, and readable mismatch messages."""

import pytest

from databay import Inlet, Record
from databay_testing import oracle


class Source(Inlet):
    """A stand-in inlet; the oracle only needs its metadata and str()."""

    def pull(self, update):
        return None


INLET = Source(metadata={"source": "s"})
META = {"source": "s", "__inlet__": "Source(metadata={'source': 's'})"}


@pytest.mark.parametrize("pull_result, payloads", [
    ([1, "a", None], [1, "a", None]),
    ([], []),
    ([[1, 2]], [[1, 2]]),
    (None, [None]),
    ((1, 2), [(1, 2)]),
    ({"a": 1}, [{"a": 1}]),
    ("text", ["text"]),
])
def test_expected_payloads_follow_the_design_table(pull_result, payloads):
    """A list gives one payload per element; anything else gives exactly one."""
    assert oracle.expected_payloads(pull_result) == payloads


def test_records_pass_through_and_values_are_wrapped():
    """In a mixed list, Records are the same objects and plain values become new records."""
    record = Record("r", {"own": True})
    expected = oracle.expected_records(INLET, [record, 2])
    assert expected[0] is record
    assert type(expected[1]) is Record and expected[1].payload == 2 and expected[1].metadata == META
    assert oracle.expected_payloads([record, 2]) == ["r", 2]


def test_matching_records_pass():
    """Records built by the rules satisfy assert_pull_becomes."""
    record = Record("r")
    pull_result = [record, 1, [2, 3]]
    oracle.assert_pull_becomes(pull_result, INLET._to_records(pull_result), inlet=INLET)


@pytest.mark.parametrize("records, message", [
    ("nope", "pull returned [Record(payload='r', metadata={}), 1]; expected a list of records, got 'nope'"),
    ([], "expected 2 record(s) (one per element of the list), got 0: []"),
    (["R", Record(1, dict(META))], "record 0: expected the Record Record(payload='r', metadata={}) itself"),
    ([None, 1], "record 1: expected a new Record with payload 1 (plain values become "
                "inlet.new_record(payload=value)), got 1 (int), which is not a Record"),
    ([None, Record(2, dict(META))], "record 1: expected payload 1, got 2"),
    ([None, Record(1, {})], "record 1: expected metadata {'source': 's', '__inlet__': "),
])
def test_mismatches_are_described(records, message):
    """Each way records can break the rules gets a message saying what was expected and what came."""
    original = Record("r")
    records = [original if item is None else item for item in records] if isinstance(records, list) \
        else records
    with pytest.raises(AssertionError) as error:
        oracle.assert_pull_becomes([original, 1], records, inlet=INLET)
    assert message in str(error.value)


def test_shared_metadata_dicts_are_reported():
    """Two new records sharing one metadata dict break the rules."""
    shared = dict(META)
    problem = oracle.records_mismatch([1, 2], [Record(1, shared), Record(2, shared)], inlet=INLET)
    assert problem.endswith("record 1: it shares its metadata dict with record 0; "
                            "every record needs its own dict")


def test_global_metadata_object_itself_is_reported():
    """A record whose metadata is the global metadata object itself breaks the rules."""
    global_metadata = dict(META)
    problem = oracle.records_mismatch(1, [Record(1, global_metadata)], inlet=INLET,
                                      global_metadata=global_metadata)
    assert "its metadata is the inlet's global metadata object itself" in problem


def test_nan_payload_matches_itself():
    """A NaN payload wrapped without copying matches, since the oracle compares identity first."""
    nan = float("nan")
    oracle.assert_pull_becomes([nan], INLET._to_records([nan]), inlet=INLET)


def test_oracle_does_not_need_hypothesis():
    """The oracle module imports only databay, so it can check other implementations by path."""
    with open(oracle.__file__, encoding="utf-8") as file:
        source = file.read()
    assert "hypothesis" not in source.split('"""', 2)[2]


def convert_like_databay_0_3_0(inlet, data):
    """databay 0.3.0's Inlet._pull conversion, reproduced to show the kit finds its bug."""
    if not isinstance(data, list):
        data = [data]
    if data and not isinstance(data[0], Record):
        for index in range(len(data)):
            if not isinstance(data[index], Record):
                data[index] = inlet.new_record(payload=data[index])
    return data


def test_strategies_and_oracle_find_the_0_3_0_mixed_list_bug():
    """pull_results() and the oracle find, and shrink, 0.3.0's unwrapped values after a leading Record."""
    from hypothesis import HealthCheck, find, settings

    from databay_testing import strategies

    def broken(pull_result):
        converted = convert_like_databay_0_3_0(INLET, list(pull_result) if isinstance(pull_result, list)
                                               else pull_result)
        return oracle.records_mismatch(pull_result, converted, inlet=INLET) is not None

    shrunk = find(strategies.pull_results(), broken,
                  settings=settings(max_examples=1000, database=None,
                                    suppress_health_check=list(HealthCheck)))
    assert repr(shrunk) == "[Record(payload=None, metadata={}), None]"
