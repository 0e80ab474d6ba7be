"""on_start / on_shutdown once per node, reference-counted; the active flag (docs/design.md: "Node lifecycle")."""

import threading

import pytest

from databay import Inlet, Link, Outlet


class CountingInlet(Inlet):
    def __init__(self, fail_start=False, fail_shutdown=False):
        super().__init__()
        self.starts = 0
        self.shutdowns = 0
        self.fail_start = fail_start
        self.fail_shutdown = fail_shutdown

    def pull(self, update):
        return 1

    def on_start(self):
        self.starts += 1
        if self.fail_start:
            raise RuntimeError("cannot start")

    def on_shutdown(self):
        self.shutdowns += 1
        if self.fail_shutdown:
            raise RuntimeError("cannot stop")


class CountingOutlet(Outlet):
    def __init__(self):
        super().__init__()
        self.starts = 0
        self.shutdowns = 0

    def push(self, records, update):
        pass

    def on_start(self):
        self.starts += 1

    def on_shutdown(self):
        self.shutdowns += 1


def test_nodes_start_inactive():
    """A new inlet or outlet is not active."""
    assert CountingInlet().active is False
    assert CountingOutlet().active is False


def test_try_start_and_shutdown_toggle_active():
    """try_start sets active after on_start; try_shutdown clears it after on_shutdown."""
    inlet = CountingInlet()
    inlet.try_start()
    assert inlet.active and inlet.starts == 1
    inlet.try_shutdown()
    assert not inlet.active and inlet.shutdowns == 1


def test_start_and_shutdown_run_once_per_instance_across_links():
    """A node shared by three links is started once and shut down once."""
    inlet, outlet = CountingInlet(), CountingOutlet()
    links = [Link(inlet, outlet, 1) for _ in range(3)]
    for link in links:
        link.on_start()
    assert (inlet.starts, outlet.starts) == (1, 1)
    assert inlet.active and outlet.active
    for link in links:
        link.on_shutdown()
    assert (inlet.shutdowns, outlet.shutdowns) == (1, 1)
    assert not inlet.active and not outlet.active


def test_repeated_calls_are_idempotent():
    """Calling try_start/try_shutdown again does not call the hooks again."""
    outlet = CountingOutlet()
    for _ in range(3):
        outlet.try_start()
    for _ in range(3):
        outlet.try_shutdown()
    assert (outlet.starts, outlet.shutdowns) == (1, 1)


def test_shutdown_without_start_does_nothing():
    """on_shutdown is not called for a node that never started."""
    inlet = CountingInlet()
    inlet.try_shutdown()
    assert inlet.shutdowns == 0


def test_node_can_restart_after_shutdown():
    """After a shutdown, a new start calls on_start again."""
    inlet = CountingInlet()
    inlet.try_start()
    inlet.try_shutdown()
    inlet.try_start()
    assert inlet.starts == 2 and inlet.active


def test_failing_on_start_leaves_node_inactive():
    """If on_start raises, the error propagates, the node stays inactive and is not shut down."""
    inlet = CountingInlet(fail_start=True)
    with pytest.raises(RuntimeError, match="cannot start"):
        inlet.try_start()
    assert inlet.active is False
    inlet.try_shutdown()
    assert inlet.shutdowns == 0
    inlet.fail_start = False
    inlet.try_start()
    assert inlet.active and inlet.starts == 2


def test_failing_on_shutdown_still_marks_inactive():
    """If on_shutdown raises, the error propagates and the node is inactive anyway."""
    inlet = CountingInlet(fail_shutdown=True)
    inlet.try_start()
    with pytest.raises(RuntimeError, match="cannot stop"):
        inlet.try_shutdown()
    assert inlet.active is False


def test_a_shared_node_stops_with_its_last_link():
    """Reference counting: a node used by two started links stops when the second one stops."""
    inlet, first_outlet, second_outlet = CountingInlet(), CountingOutlet(), CountingOutlet()
    first, second = Link(inlet, first_outlet, 1), Link(inlet, second_outlet, 1)
    first.on_start()
    second.on_start()
    first.on_start()  # idempotent: still one use by ``first``
    assert inlet.starts == 1
    first.on_shutdown()
    assert inlet.active and not first_outlet.active and inlet.shutdowns == 0
    first.on_shutdown()  # idempotent: does not release ``second``'s use
    assert inlet.active
    second.on_shutdown()
    assert not inlet.active and (inlet.starts, inlet.shutdowns) == (1, 1)


def test_a_node_started_by_hand_is_left_running_by_links():
    """A node active before any link used it is stopped by whoever started it, not by a link."""
    inlet = CountingInlet()
    inlet.try_start()
    link = Link(inlet, CountingOutlet(), 1)
    link.on_start()
    link.on_shutdown()
    assert inlet.active and inlet.shutdowns == 0
    inlet.try_shutdown()
    assert inlet.shutdowns == 1


def test_concurrent_try_start_calls_start_once():
    """Many threads calling try_start at once call on_start exactly once."""
    inlet = CountingInlet()
    barrier = threading.Barrier(8, timeout=5)

    def start():
        barrier.wait()
        inlet.try_start()

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert inlet.starts == 1


def test_default_hooks_do_nothing():
    """The base on_start/on_shutdown are no-ops, so a plain node can start and stop."""
    class Plain(Inlet):
        def pull(self, update):
            return None

    inlet = Plain()
    inlet.try_start()
    inlet.try_shutdown()
    assert inlet.active is False


def test_link_on_start_failure_propagates_without_ignore(nodes):
    """Link.on_start re-raises a node's on_start error when ignore_exceptions is False."""
    bad = CountingInlet(fail_start=True)
    with pytest.raises(RuntimeError, match="cannot start"):
        Link(bad, [], 1).on_start()
    assert not bad.active


def test_nodes_added_to_a_started_link_are_started_first(nodes):
    """add_inlets/add_outlets on a started link start the new nodes; before on_start they stay idle."""
    link = Link(nodes.ValueInlet(1), nodes.RecordingOutlet(), 1)
    early = nodes.ValueInlet(2)
    link.add_inlets(early)
    assert not early.active
    link.on_start()
    late_inlet, late_outlet = nodes.ValueInlet(3), nodes.RecordingOutlet()
    link.add_inlets(late_inlet)
    link.add_outlets(late_outlet)
    assert late_inlet.active and late_outlet.active
    link.on_shutdown()
    assert not late_inlet.active and not late_outlet.active
    later = nodes.ValueInlet(4)
    link.add_inlets(later)
    assert not later.active


@pytest.mark.parametrize("call", ["try_start", "try_shutdown", "_acquire", "_release", "active"])
def test_lifecycle_calls_on_a_node_that_skipped_super_init_name_the_fix(call):
    """Each lifecycle entry point (checked only when the node's lock is missing) still raises
    ImplementationError naming the class, not an AttributeError."""
    from databay.errors import ImplementationError

    class Forgetful(Inlet):
        def __init__(self):
            pass

        def pull(self, update):
            return 1

    with pytest.raises(ImplementationError, match=r"Forgetful.__init__ did not call super"):
        attribute = getattr(Forgetful(), call)
        if callable(attribute):
            attribute()


def test_a_failing_on_start_or_on_shutdown_releases_the_node_lock():
    """After on_start/on_shutdown raised, another thread can still start and stop the node."""
    inlet = CountingInlet(fail_start=True, fail_shutdown=True)
    with pytest.raises(RuntimeError):
        inlet._acquire()
    inlet.fail_start = False
    inlet._acquire()
    with pytest.raises(RuntimeError):
        inlet._release()

    def elsewhere():
        inlet._acquire()
        inlet.fail_shutdown = False
        inlet._release()

    worker = threading.Thread(target=elsewhere, daemon=True)
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    assert (inlet.starts, inlet.shutdowns, inlet.active) == (3, 2, False)
