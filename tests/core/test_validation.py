"""Bad input gets a clear error naming the parameter and the value."""

import datetime

import pytest

from databay import Inlet, Link, Outlet, Record
from databay.errors import DatabayError, ImplementationError, InvalidNodeError


class _In(Inlet):
    def pull(self, update):
        return 1


class _Out(Outlet):
    def push(self, records, update):
        pass


class ForgetfulInlet(Inlet):
    """Forgot super().__init__()."""

    def __init__(self):
        self.value = 1

    def pull(self, update):
        return self.value


class ForgetfulOutlet(Outlet):
    """Forgot super().__init__()."""

    def __init__(self):
        self.pushed = []

    def push(self, records, update):
        self.pushed.append(records)


# -- nodes -------------------------------------------------------------------


@pytest.mark.parametrize("bad", [5, "inlet", None, _Out(), object(), [_In(), 3]], ids=repr)
def test_non_inlet_is_type_error(bad):
    """Anything that is not an Inlet in inlets= raises TypeError naming the parameter and value."""
    with pytest.raises(TypeError) as info:
        Link(bad, _Out(), 1)
    message = str(info.value)
    assert "inlets" in message and "Inlet" in message
    culprit = bad[1] if isinstance(bad, list) else bad
    assert repr(culprit) in message


@pytest.mark.parametrize("bad", [5, "outlet", None, _In(), [_Out(), 3]], ids=repr)
def test_non_outlet_is_type_error(bad):
    """Anything that is not an Outlet in outlets= raises TypeError naming the parameter and value."""
    with pytest.raises(TypeError) as info:
        Link(_In(), bad, 1)
    message = str(info.value)
    assert "outlets" in message and "Outlet" in message


def test_add_inlets_and_outlets_reject_wrong_types():
    """add_inlets/add_outlets check types like the constructor and leave the link unchanged."""
    link = Link([], [], 1)
    with pytest.raises(TypeError):
        link.add_inlets([_In(), _Out()])
    with pytest.raises(TypeError):
        link.add_outlets([_Out(), _In()])
    assert link.inlets == [] and link.outlets == []


def test_same_inlet_twice_is_invalid_node_error():
    """The same inlet given twice, or added again, raises InvalidNodeError naming it."""
    inlet = _In()
    with pytest.raises(InvalidNodeError) as info:
        Link([inlet, inlet], [], 1)
    assert repr(inlet) in str(info.value) and "inlet" in str(info.value)
    link = Link(inlet, [], 1)
    with pytest.raises(InvalidNodeError):
        link.add_inlets(inlet)
    assert link.inlets == [inlet]


def test_same_outlet_twice_is_invalid_node_error():
    """The same outlet given twice, or added again, raises InvalidNodeError."""
    outlet = _Out()
    with pytest.raises(InvalidNodeError):
        Link([], [outlet, outlet], 1)
    link = Link([], outlet, 1)
    with pytest.raises(InvalidNodeError) as info:
        link.add_outlets([_Out(), outlet])
    assert "outlet" in str(info.value)
    assert link.outlets == [outlet]


def test_invalid_node_error_is_runtime_and_databay_error():
    """InvalidNodeError is caught by except RuntimeError (0.3.0) and except DatabayError."""
    inlet = _In()
    with pytest.raises(RuntimeError):
        Link([inlet, inlet], [], 1)
    with pytest.raises(DatabayError):
        Link([inlet, inlet], [], 1)


def test_removing_missing_node_is_invalid_node_error():
    """Removing a node the link does not hold raises InvalidNodeError and changes nothing."""
    inlet, outlet = _In(), _Out()
    link = Link(inlet, outlet, 1)
    with pytest.raises(InvalidNodeError):
        link.remove_inlets(_In())
    with pytest.raises(InvalidNodeError):
        link.remove_outlets([outlet, _Out()])
    assert link.inlets == [inlet] and link.outlets == [outlet]


def test_add_and_remove_nodes():
    """add_/remove_ inlets and outlets accept one node or a list and keep order."""
    first, second, third = _In(), _In(), _In()
    outlet = _Out()
    link = Link(first, [], 1)
    link.add_inlets([second, third])
    link.add_outlets(outlet)
    assert link.inlets == [first, second, third] and link.outlets == [outlet]
    link.remove_inlets([first, third])
    link.remove_outlets(outlet)
    assert link.inlets == [second] and link.outlets == []


def test_equal_but_distinct_nodes_are_both_accepted():
    """Nodes that compare equal but are distinct objects can both be added."""
    class Equal(_In):
        def __eq__(self, other):
            return isinstance(other, Equal)

        __hash__ = object.__hash__

    first, second = Equal(), Equal()
    assert Link([first, second], [], 1).inlets == [first, second]


# -- forgotten super().__init__() ------------------------------------------


def test_forgotten_super_init_inlet_on_link():
    """Adding an inlet that skipped super().__init__() raises ImplementationError naming its class."""
    with pytest.raises(ImplementationError, match="ForgetfulInlet"):
        Link(ForgetfulInlet(), [], 1)
    with pytest.raises(ImplementationError, match="super"):
        Link([], [], 1).add_inlets(ForgetfulInlet())


def test_forgotten_super_init_outlet_on_link():
    """Adding an outlet that skipped super().__init__() raises ImplementationError naming its class."""
    with pytest.raises(ImplementationError, match="ForgetfulOutlet"):
        Link([], ForgetfulOutlet(), 1)


def test_forgotten_super_init_new_record():
    """new_record on an inlet that skipped super().__init__() raises ImplementationError."""
    with pytest.raises(ImplementationError, match="ForgetfulInlet.__init__"):
        ForgetfulInlet().new_record(1)


@pytest.mark.parametrize("cls", [ForgetfulInlet, ForgetfulOutlet])
def test_forgotten_super_init_try_start(cls):
    """try_start, try_shutdown and active on such a node raise ImplementationError, not AttributeError."""
    node = cls()
    with pytest.raises(ImplementationError, match=cls.__name__):
        node.try_start()
    with pytest.raises(ImplementationError, match=cls.__name__):
        node.try_shutdown()
    with pytest.raises(ImplementationError, match=cls.__name__):
        node.active  # noqa: B018


def test_forgotten_super_init_metadata():
    """Reading metadata on such an inlet raises ImplementationError."""
    with pytest.raises(ImplementationError, match="ForgetfulInlet"):
        ForgetfulInlet().metadata  # noqa: B018


def test_implementation_error_is_runtime_and_databay_error():
    """ImplementationError is also a RuntimeError and a DatabayError."""
    assert issubclass(ImplementationError, RuntimeError)
    assert issubclass(ImplementationError, DatabayError)


# -- interval ----------------------------------------------------------------


@pytest.mark.parametrize("value, seconds", [
    (1, 1.0), (0.5, 0.5), (datetime.timedelta(minutes=2), 120.0),
    (datetime.timedelta(milliseconds=1), 0.001), (10 ** 6, 1e6),
])
def test_valid_intervals(value, seconds):
    """interval accepts positive ints, floats and timedeltas; Link.interval is a timedelta."""
    link = Link([], [], value)
    assert link.interval == datetime.timedelta(seconds=seconds)
    assert isinstance(link.interval, datetime.timedelta)


@pytest.mark.parametrize("bad", [0, -1, -0.5, 0.0, datetime.timedelta(0),
                                 datetime.timedelta(seconds=-3), float("nan"), float("inf")],
                         ids=repr)
def test_non_positive_interval_is_value_error(bad):
    """interval <= 0 (or nan/inf) raises ValueError naming the parameter and the value."""
    with pytest.raises(ValueError) as info:
        Link([], [], bad)
    message = str(info.value)
    assert "interval" in message and repr(bad) in message
    assert "positive" in message


@pytest.mark.parametrize("bad", [True, False, "5", None, [1], b"1", 1j], ids=repr)
def test_wrong_type_interval_is_type_error(bad):
    """interval of the wrong type (bool, str, None, …) raises TypeError naming parameter and value."""
    with pytest.raises(TypeError) as info:
        Link([], [], bad)
    message = str(info.value)
    assert "interval" in message and repr(bad) in message
    assert "timedelta" in message


# -- tags --------------------------------------------------------------------


@pytest.mark.parametrize("tags, expected", [
    (None, []), ("a", ["a"]), (["a", "b"], ["a", "b"]), ([], []), (("a", "b"), ["a", "b"]),
])
def test_valid_tags(tags, expected):
    """tags accepts None, a str, or a list of str."""
    assert Link([], [], 1, tags=tags).tags == expected


@pytest.mark.parametrize("bad", [5, ["a", 1], [None], {"a"}, b"a", ["a", ["b"]]], ids=repr)
def test_bad_tags_is_type_error(bad):
    """tags that are not a str or a list of str raise TypeError naming parameter and value."""
    with pytest.raises(TypeError) as info:
        Link([], [], 1, tags=bad)
    message = str(info.value)
    assert "tags" in message and repr(bad) in message and "str" in message


# -- inlet_concurrency ------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1], ids=repr)
def test_inlet_concurrency_below_one_is_value_error(bad):
    """inlet_concurrency < 1 raises ValueError naming parameter and value."""
    with pytest.raises(ValueError) as info:
        Link([], [], 1, inlet_concurrency=bad)
    message = str(info.value)
    assert "inlet_concurrency" in message and repr(bad) in message


@pytest.mark.parametrize("bad", [1.5, 2.0, "2", True, [2]], ids=repr)
def test_inlet_concurrency_non_int_is_type_error(bad):
    """A non-int inlet_concurrency (float, str, bool) raises TypeError naming parameter and value."""
    with pytest.raises(TypeError) as info:
        Link([], [], 1, inlet_concurrency=bad)
    message = str(info.value)
    assert "inlet_concurrency" in message and repr(bad) in message


def test_inlet_concurrency_default_and_valid():
    """inlet_concurrency defaults to None (no limit) and keeps valid ints."""
    assert Link([], [], 1).inlet_concurrency is None
    assert Link([], [], 1, inlet_concurrency=3).inlet_concurrency == 3


# -- processors and groupers ------------------------------------------------


@pytest.mark.parametrize("parameter", ["processors", "groupers"])
@pytest.mark.parametrize("bad", [5, "name", [len, 3], [None]], ids=repr)
def test_non_callable_processors_and_groupers(parameter, bad):
    """Non-callable processors/groupers raise TypeError naming the parameter and the item."""
    with pytest.raises(TypeError) as info:
        Link([], [], 1, **{parameter: bad})
    message = str(info.value)
    assert parameter in message and "callable" in message and repr(bad) in message


@pytest.mark.parametrize("bad", [5, [len, "x"]], ids=repr)
def test_non_callable_outlet_processors(bad):
    """Outlet(processors=non-callable) raises TypeError naming the parameter."""
    with pytest.raises(TypeError) as info:
        _Out(processors=bad)
    assert "processors" in str(info.value) and repr(bad) in str(info.value)


def test_processors_lists_are_copied():
    """The link keeps its own processors list; mutating the given one changes nothing."""
    given = [len]
    link = Link([], [], 1, processors=given)
    given.append(abs)
    assert link.processors == [len]


# -- metadata ------------------------------------------------------------------


@pytest.mark.parametrize("bad", [[1], "text", 3, Record(1)], ids=repr)
def test_inlet_metadata_must_be_mapping(bad):
    """Inlet(metadata=...) that is not a mapping raises TypeError naming parameter and value."""
    with pytest.raises(TypeError) as info:
        _In(metadata=bad)
    assert "metadata" in str(info.value) and repr(bad) in str(info.value)
