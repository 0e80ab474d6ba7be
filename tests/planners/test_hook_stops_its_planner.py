"""A node hook that calls ``shutdown()`` of the planner running it returns instead of deadlocking.

The teardown runs node hooks (``on_shutdown``) in its own thread, and ``add_links`` runs
``on_start`` while the teardown waits for it: ``shutdown()`` called from there must neither
wait for that teardown nor run a second one. Each case runs in a thread joined with a
timeout, so a regression fails instead of hanging the suite.
"""


from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner

from .conftest import Unblocking, in_thread


class HookInlet(Inlet):
    """Calls ``on_start_hook``/``on_shutdown_hook`` (if set) from its lifecycle hooks."""

    def __init__(self):
        super().__init__()
        self.on_start_hook = None
        self.on_shutdown_hook = None
        self.calls = []

    def pull(self, update):
        return 1

    def on_start(self):
        self.calls.append("start")
        if self.on_start_hook is not None:
            self.on_start_hook()

    def on_shutdown(self):
        self.calls.append("stop")
        if self.on_shutdown_hook is not None:
            self.on_shutdown_hook()


class Quiet(Outlet):
    def push(self, records, update):
        pass


def ends(action, seconds=20):
    """Run ``action`` in a daemon thread; True if it returned within ``seconds``.
    Re-raises what it raised."""
    thread, raised = in_thread(action)
    thread.join(seconds)
    if raised:
        raise raised[0]
    return not thread.is_alive()


def test_on_shutdown_calling_shutdown_of_its_non_blocking_planner_returns():
    """The teardown running the hook is under way in this thread: shutdown() returns at once."""
    inlet = HookInlet()
    planner = Unblocking([Link(inlet, Quiet(), 3600)], immediate_transfer=False,
                         handle_signals=False)
    returned = []
    inlet.on_shutdown_hook = lambda: returned.append(planner.shutdown())

    def run():
        planner.start()
        planner.shutdown()

    assert ends(run)
    assert returned == [[]]
    assert inlet.calls == ["start", "stop"] and not inlet.active and not planner.running
    assert ends(run)  # and it starts and stops again
    assert inlet.calls == ["start", "stop"] * 2


def test_on_start_in_add_links_calling_shutdown_of_its_non_blocking_planner_returns():
    """add_links() of a running planner starts the new link's nodes; a hook there that shuts the
    planner down gets the teardown in another thread, which stops the added link too."""
    planner = Unblocking([Link(HookInlet(), Quiet(), 3600)], immediate_transfer=False,
                         handle_signals=False)
    inlet = HookInlet()
    inlet.on_start_hook = planner.shutdown
    planner.start()
    assert ends(lambda: planner.add_links(Link(inlet, Quiet(), 3600)))
    assert ends(planner.shutdown)  # waits for the teardown that the hook began
    assert inlet.calls == ["start", "stop"] and not planner.running


def test_on_start_in_add_links_calling_shutdown_of_its_background_planner_returns():
    """The same with a SchedulePlanner started in the background (``with planner:``): the
    hook's shutdown() does not wait for a teardown that waits for the hook's add_links()."""
    planner = SchedulePlanner([Link(HookInlet(), Quiet(), 3600)], immediate_transfer=False,
                              handle_signals=False)
    inlet = HookInlet()
    inlet.on_start_hook = planner.shutdown

    def run():
        with planner:
            planner.add_links(Link(inlet, Quiet(), 3600))

    assert ends(run)
    assert inlet.calls == ["start", "stop"] and not planner.running
