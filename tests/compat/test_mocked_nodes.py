"""Item 1: a Link built from MagicMock(spec=Inlet) / MagicMock(spec=Outlet), as 0.3.0 users' tests do."""

from unittest.mock import MagicMock

import pytest

from databay import ImplementationError, Inlet, Link, Outlet, Record, Update
from databay.planners import SchedulePlanner


class AsyncInlet(Inlet):
    async def pull(self, update):
        return 1


class AsyncOutlet(Outlet):
    async def push(self, records, update):
        return None


def test_link_accepts_mocked_nodes_and_calls_pull_and_push():
    """A transfer calls pull(update) on a mocked inlet and push(records, update) on a mocked outlet."""
    inlet, outlet = MagicMock(spec=Inlet), MagicMock(spec=Outlet)
    inlet.pull.return_value = [1, {"two": 2}]
    link = Link(inlet, outlet, interval=1, tags="mocked")
    assert link.inlets == [inlet] and link.outlets == [outlet]

    link.transfer()

    inlet.pull.assert_called_once()
    (update,), _ = inlet.pull.call_args
    assert isinstance(update, Update) and str(update) == "mocked.0"
    outlet.push.assert_called_once()
    records, pushed_update = outlet.push.call_args[0]
    assert pushed_update is update
    assert [record.payload for record in records] == [1, {"two": 2}]
    assert all(type(record) is Record for record in records)
    assert records[0].metadata == {"__inlet__": str(inlet)}


def test_mocked_async_nodes_are_awaited():
    """A mock specced on a class with async def pull/push gets AsyncMocks, which are awaited."""
    inlet, outlet = MagicMock(spec=AsyncInlet), MagicMock(spec=AsyncOutlet)
    inlet.pull.return_value = "value"
    Link(inlet, outlet, interval=1).transfer()
    inlet.pull.assert_awaited_once()
    outlet.push.assert_awaited_once()
    assert [record.payload for record in outlet.push.call_args[0][0]] == ["value"]


def test_planner_starts_and_shuts_down_mocked_nodes():
    """A planner drives a mocked node's lifecycle through try_start/try_shutdown, as 0.3.0 did."""
    inlet, outlet = MagicMock(spec=Inlet), MagicMock(spec=Outlet)
    planner = SchedulePlanner(Link(inlet, outlet, interval=60))
    with planner:
        pass
    for node in (inlet, outlet):
        node.try_start.assert_called_once_with()
        node.try_shutdown.assert_called_once_with()


def test_mocked_node_keeps_hooks_it_already_has():
    """Hooks the user configured on the mock are not replaced."""
    inlet, outlet = MagicMock(spec=Inlet), MagicMock(spec=Outlet)
    inlet._to_records = lambda data: [Record("mine")]
    Link(inlet, outlet, interval=1).transfer()
    assert [record.payload for record in outlet.push.call_args[0][0]] == ["mine"]


def test_real_subclass_skipping_super_init_still_fails():
    """The stand-in rule does not hide a real subclass that forgot super().__init__()."""
    class Forgetful(Inlet):
        def __init__(self):
            pass

        def pull(self, update):
            return 1

    with pytest.raises(ImplementationError, match=r"Forgetful.__init__ did not call super"):
        Link(Forgetful(), MagicMock(spec=Outlet), interval=1)


def test_an_unrelated_mock_is_still_rejected():
    """A mock that does not claim to be a node is refused with the usual TypeError."""
    with pytest.raises(TypeError, match="is not an instance of Inlet"):
        Link(MagicMock(), MagicMock(spec=Outlet), interval=1)


def test_a_mock_specced_from_a_node_instance_is_prepared_like_one_specced_from_its_class():
    """``MagicMock(spec=SomeInlet())`` answers every attribute, ``_active`` too: the node
    check must still see a stand-in, so its pull/push and try_start/try_shutdown are called."""
    inlet, outlet = MagicMock(spec=AsyncInlet()), MagicMock(spec=Outlet)
    inlet.pull.return_value = 7
    link = Link(inlet, outlet, interval=1)
    link.on_start()
    link.transfer()
    link.on_shutdown()
    (records, _), _ = outlet.push.call_args
    assert [record.payload for record in records] == [7]
    assert inlet.try_start.call_count == 1 and inlet.try_shutdown.call_count == 1
