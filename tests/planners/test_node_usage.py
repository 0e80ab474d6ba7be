"""The reference-counted node lifecycle across planners (docs/design.md: "Node lifecycle").

A node's ``on_start`` runs when its first user (a link, in any planner) starts and its
``on_shutdown`` when its last user stops. These tests hold the rules around that: no hook of
a node overlaps another, a user arriving while a node stops waits and starts it again, a
shutdown never waits for another thread's hook while holding a node of its own, a hook may
start other links (also on other threads) without a later node being stopped under them,
and a node is freed when its last reference goes.
"""

import gc
import threading
import time
import weakref

from databay import Inlet, Link, Outlet
from databay.planners import SchedulePlanner

from .conftest import Runner, Unblocking, run_started


class Quiet(Outlet):
    def push(self, records, update):
        pass


class Strict(Inlet):
    """Records its hooks and any hook that begins while another of its hooks runs, or that
    finds the node in the wrong state."""

    def __init__(self, name="node", stopping=None):
        super().__init__()
        self.name = name
        self.state = "stopped"
        self.starts = self.stops = 0
        self.violations = []
        self.stopping = stopping  # called inside on_shutdown, while the node is stopping

    def pull(self, update):
        return 1

    def on_start(self):
        if self.state != "stopped":
            self.violations.append("on_start while %s" % self.state)
        self.state = "starting"
        time.sleep(0.0002)  # a window for an overlapping hook to show
        self.starts += 1
        self.state = "started"

    def on_shutdown(self):
        if self.state != "started":
            self.violations.append("on_shutdown while %s" % self.state)
        self.state = "stopping"
        if self.stopping is not None:
            self.stopping()
        time.sleep(0.0002)
        self.stops += 1
        self.state = "stopped"


def planner_of(*links):
    return SchedulePlanner(list(links), immediate_transfer=False, handle_signals=False)


def test_a_node_shared_by_two_planners_stops_once_when_the_last_of_them_stops():
    shared = Strict()
    first = run_started(planner_of(Link(shared, Quiet(), 3600)))
    second = run_started(planner_of(Link(shared, Quiet(), 3600), Link(Strict(), Quiet(), 3600)))
    assert shared.active and shared.starts == 1
    first.stop()
    assert shared.active and shared.stops == 0  # the second planner still uses it
    second.stop()
    assert not shared.active and (shared.starts, shared.stops) == (1, 1)
    assert shared.violations == []


def test_a_planner_starting_while_another_stops_their_shared_node_starts_it_again_after():
    """The node's on_shutdown runs outside the lifecycle guard; a link starting meanwhile (in
    another planner) waits for it to return, then starts the node again: never a start that
    overlaps the stop, never a stopped node left to a running planner."""
    in_shutdown, proceed = threading.Event(), threading.Event()

    def hold():
        in_shutdown.set()
        assert proceed.wait(10)

    shared = Strict(stopping=hold)
    stopping = run_started(planner_of(Link(shared, Quiet(), 3600)))
    starting = planner_of(Link(shared, Quiet(), 3600))
    stopper = threading.Thread(target=stopping.stop)
    stopper.start()
    assert in_shutdown.wait(10)
    starter = Runner(starting).start()
    starter.thread.join(0.3)  # time for a start that does not wait to happen (it must not)
    assert shared.starts == 1 and shared.state == "stopping"
    shared.stopping = None
    proceed.set()
    stopper.join(10)
    deadline = time.monotonic() + 10
    while not starting.running:
        assert time.monotonic() < deadline, starter.error
        time.sleep(0.001)
    assert shared.active and (shared.starts, shared.stops) == (2, 1)
    assert shared.violations == []
    starter.stop()
    assert not shared.active and (shared.starts, shared.stops) == (2, 2)


def test_a_shutdown_ends_its_own_hooks_before_it_waits_for_another_threads_hook():
    """A shutdown that reaches a node whose hook runs on another thread shuts down the nodes it
    counted before that one first, then waits: a hook that needs one of those nodes (here it
    stops it by hand) is not left waiting for the shutdown that waits for it."""
    first_stopped, first_done = threading.Event(), []
    first = Strict("first", stopping=first_stopped.set)

    def needs_first():  # runs in the second node's on_shutdown, called by hand below
        assert first_stopped.wait(10), "the shutdown held the first node while it waited"
        first.try_shutdown()  # waits for the first node's hook: must not deadlock
        first_done.append(True)

    second = Strict("second", stopping=needs_first)
    runner = run_started(planner_of(Link(first, Quiet(), 3600), Link(second, Quiet(), 3600)))
    by_hand = threading.Thread(target=second.try_shutdown)  # the second node's hook runs there
    by_hand.start()
    deadline = time.monotonic() + 10
    while second.state != "stopping":
        assert time.monotonic() < deadline
        time.sleep(0.001)
    runner.stop(timeout=20)
    by_hand.join(10)
    assert first_done == [True] and not by_hand.is_alive()
    assert (first.starts, first.stops, second.starts, second.stops) == (1, 1, 1, 1)
    assert first.violations == [] and second.violations == []


class OwnTryShutdown(Strict):
    def try_shutdown(self):
        self.order.append(self.name + ":try_shutdown")
        super().try_shutdown()


def test_links_that_are_not_plain_and_nodes_with_their_own_try_shutdown_keep_link_order():
    """A planner's shutdown counts runs of plain links together; a link with its own
    on_shutdown, or a node class with its own try_shutdown, is stopped at its turn."""
    order = []

    class Named(Strict):
        def on_shutdown(self):
            super().on_shutdown()
            order.append(self.name)

    class NamedOwn(OwnTryShutdown, Named):
        pass

    class NamedOut(Quiet):
        def on_shutdown(self):
            order.append("shared")

    shared = NamedOut()
    nodes = [Named("a"), Named("b"), NamedOwn("c"), Named("d"), Named("e")]
    nodes[2].order = order
    links = [Link(node, shared, 3600) for node in nodes]
    links[1].on_shutdown = lambda link=links[1]: (order.append("link b"), Link.on_shutdown(link))
    runner = run_started(planner_of(*links))
    runner.stop()
    assert order == ["a", "link b", "b", "c:try_shutdown", "c", "d", "e", "shared"]


def test_two_planners_sharing_nodes_started_and_stopped_at_once_keep_the_counts():
    """Many rounds of two planners (sharing an inlet and an outlet, each with nodes of its own)
    started and stopped on threads at the same time: hooks never overlap, and a shared node is
    active exactly while a planner using it runs."""
    shared = Strict("shared")

    class Out(Quiet):
        pass

    out = Out()
    for _ in range(15):
        planners = [planner_of(Link(shared, out, 3600), *[Link(Strict(), out, 3600) for _ in range(20)])
                    for _ in range(2)]
        runners = [Runner(planner) for planner in planners]
        for runner in runners:
            runner.start()
        deadline = time.monotonic() + 10
        while not all(planner.running for planner in planners):
            assert time.monotonic() < deadline
            time.sleep(0.001)
        assert shared.active and out.active
        stoppers = [threading.Thread(target=runner.stop) for runner in runners]
        restarted = Runner(planner_of(Link(shared, out, 3600)))
        stoppers[0].start()
        restarted.start()  # starts while the others stop
        stoppers[1].start()
        for stopper in stoppers:
            stopper.join(20)
        while not restarted.planner.running:
            assert time.monotonic() < deadline + 10, restarted.error
            time.sleep(0.001)
        assert shared.active and out.active  # the restarted planner still uses them
        restarted.stop()
        assert not shared.active and not out.active
        assert shared.starts == shared.stops
    assert shared.violations == []


def test_a_hook_that_starts_a_link_on_a_node_stopped_later_keeps_that_node_running():
    """Node a's on_shutdown starts another link using node b (0.3.0 style, by hand): b has
    a user again, so the planner's shutdown must not stop it after a's hook returned."""
    b = Strict("b")
    other = Link(b, Quiet(), interval=3600)
    a = Strict("a", stopping=other.on_start)
    planner = planner_of(Link(a, Quiet(), interval=3600), Link(b, Quiet(), interval=3600))
    run_started(planner).stop()
    assert (a.stops, b.starts, b.stops, b.state) == (1, 1, 0, "started")
    other.on_shutdown()
    assert (b.stops, b.state, a.violations, b.violations) == (1, "stopped", [], [])


def test_a_hook_may_wait_for_another_thread_starting_a_node_stopped_later():
    """Node a's on_shutdown starts a link using node b on another thread and waits for it:
    b still has its planner's user, so that start must not wait for a's hook (a deadlock)."""
    b = Strict("b")
    other = Link(b, Quiet(), interval=3600)
    helper_ended = []

    def start_elsewhere_and_wait():
        thread = threading.Thread(target=other.on_start, daemon=True)
        thread.start()
        thread.join(10)
        helper_ended.append(not thread.is_alive())

    a = Strict("a", stopping=start_elsewhere_and_wait)
    planner = planner_of(Link(a, Quiet(), interval=3600), Link(b, Quiet(), interval=3600))
    run_started(planner).stop()
    assert helper_ended == [True]
    assert (b.starts, b.stops) == (1, 0)  # never stopped: it always had a user
    other.on_shutdown()
    assert b.stops == 1


def test_a_node_is_freed_when_its_last_reference_goes():
    """No reference cycle through lifecycle state: a node's finalizers (closing a file, say)
    run when the user drops it, even with the cyclic collector off."""
    node = Strict()
    node.try_start()  # 0.3.0 style, by hand
    node.try_shutdown()
    ref = weakref.ref(node)
    enabled = gc.isenabled()
    gc.disable()
    try:
        del node
        assert ref() is None
    finally:
        if enabled:
            gc.enable()


class Told(Inlet):
    """Appends "start NAME" / "stop NAME" to ``order`` from its hooks; ``hook`` runs inside
    its on_shutdown."""

    def __init__(self, name, order, hook=None):
        super().__init__()
        self.name, self.order, self.hook = name, order, hook

    def pull(self, update):
        return 1

    def on_start(self):
        self.order.append("start " + self.name)

    def on_shutdown(self):
        self.order.append("stop " + self.name)
        if self.hook is not None:
            self.hook()


class ToldOut(Quiet):
    def __init__(self, name, order):
        super().__init__()
        self.name, self.order = name, order

    def on_start(self):
        self.order.append("start " + self.name)

    def on_shutdown(self):
        self.order.append("stop " + self.name)


def test_hooks_that_start_links_of_the_stopping_planner_again_keep_their_users():
    """0.3.0 style, a node's on_shutdown calls ``link.on_start()`` of a link the same shutdown
    stops: a later one (not stopped yet: nothing changes, it is stopped at its turn) and an
    earlier one (stopped already: it uses its inlet, started again, and the shared outlet
    again, so the outlet outlives the planner's shutdown until that link stops)."""
    order = []
    out = ToldOut("out", order)
    a, b, c, d = (Told(name, order) for name in "abcd")
    links = [Link(node, out, 3600) for node in (a, b, c, d)]
    a.hook = links[2].on_start
    c.hook = links[0].on_start
    runner = run_started(planner_of(*links))
    del order[:]
    runner.stop()
    assert order == ["stop a", "stop b", "stop c", "start a", "stop d"]
    assert [node.active for node in (a, b, c, d, out)] == [True, False, False, False, True]
    a.hook = None
    links[0].on_shutdown()
    assert order[5:] == ["stop a", "stop out"]
    assert not a.active and not out.active


def test_a_hook_that_stops_a_later_link_stops_a_shared_node_it_was_the_last_user_of():
    """Node b's on_shutdown stops, by hand, a later link of the same shutdown that is the last
    user of a node shared with an earlier link: that node stops there, inside b's hook, as
    it would if the links had been stopped one by one."""
    order = []
    out, other = ToldOut("out", order), ToldOut("other", order)
    a, b, c = (Told(name, order) for name in "abc")
    links = [Link(a, out, 3600), Link(b, other, 3600), Link(c, out, 3600)]
    b.hook = links[2].on_shutdown
    runner = run_started(planner_of(*links))
    del order[:]
    runner.stop()
    assert order == ["stop a", "stop b", "stop c", "stop out", "stop other"]
    assert not any(node.active for node in (a, b, c, out, other))


def test_a_hook_stopping_a_later_link_takes_along_the_releases_the_shutdown_counted():
    """The shutdown counts the releases of a node its links share instead of making them one
    by one (link.shutdown_links): a hook stopping, by hand, the node's last link must still
    stop the node there, inside the hook, as one link at a time would."""
    order = []
    out, other = ToldOut("out", order), ToldOut("other", order)
    a, b, c, d = (Told(name, order) for name in "abcd")
    links = [Link(a, out, 3600), Link(b, out, 3600), Link(c, other, 3600), Link(d, out, 3600)]
    c.hook = links[3].on_shutdown
    runner = run_started(planner_of(*links))
    del order[:]
    runner.stop()
    assert order == ["stop a", "stop b", "stop c", "stop d", "stop out", "stop other"]
    assert not any(node.active for node in (a, b, c, d, out, other))


def test_a_node_many_links_share_keeps_running_for_another_planner_and_stops_with_it():
    """A node many links of a stopping planner share outlives it while another planner uses it
    (it is not held: its releases are all made), and stops once, with that one."""
    order = []
    out = ToldOut("out", order)
    stopping = planner_of(*(Link(Told(name, order), out, 3600) for name in "abcd"))
    staying = run_started(planner_of(Link(Told("e", order), out, 3600)))
    for _ in range(2):
        run_started(stopping).stop()
        assert out.active
    staying.stop()
    assert not out.active and order.count("stop out") == 1


def test_a_node_stops_in_the_planner_that_stops_its_last_user_while_another_one_stops():
    """Two planners share a node; the first one's shutdown has stopped its links of it and waits
    in a later node's hook while the second one stops the node's last user: the node stops
    inside the second one's shutdown, as when nothing else ran, not at the end of the first's."""
    order, events = [], []
    out = ToldOut("out", order)
    in_hook, go_on = threading.Event(), threading.Event()

    def wait_in_hook():
        in_hook.set()
        assert go_on.wait(10)

    slow = Told("slow", order, hook=wait_in_hook)
    first = planner_of(Link(Told("a", order), out, 3600), Link(Told("b", order), out, 3600),
                       Link(slow, Quiet(), 3600))
    second = planner_of(Link(Told("e", order), out, 3600))
    for name, planner in (("first", first), ("second", second)):
        planner.subscribe(lambda event, name=name: events.append((name, event.node.name)),
                          kinds="node_shut_down")
    runners = [run_started(first), run_started(second)]
    stopping = threading.Thread(target=runners[0].stop, daemon=True)
    stopping.start()
    try:
        assert in_hook.wait(10)
        runners[1].stop()
        assert not out.active and ("second", "out") in events
    finally:
        go_on.set()
        stopping.join(10)
    assert order.count("stop out") == 1 and events.count(("second", "out")) == 1


def test_another_thread_stopping_links_during_a_shutdown_leaves_every_node_stopped_once():
    """A node's hook has another thread stop a later link (its release then cannot take the
    counted ones along: they are this thread's): each node still stops exactly once."""
    order = []
    out, other = ToldOut("out", order), ToldOut("other", order)
    a, b, c, d = (Told(name, order) for name in "abcd")
    links = [Link(a, out, 3600), Link(b, out, 3600), Link(c, other, 3600), Link(d, out, 3600)]

    def stop_elsewhere():
        thread = threading.Thread(target=links[3].on_shutdown, daemon=True)
        thread.start()
        thread.join(10)

    c.hook = stop_elsewhere
    runner = run_started(planner_of(*links))
    del order[:]
    runner.stop()
    assert sorted(order) == sorted("stop " + name for name in ("a", "b", "c", "d", "out", "other"))
    assert not any(node.active for node in (a, b, c, d, out, other))
    links[1].on_start()  # the counts are right: the shared node starts and stops again
    assert out.active
    links[1].on_shutdown()
    assert not out.active and order.count("stop out") == 2



def test_a_hook_shutting_down_another_planner_stops_its_shared_nodes_there():
    """Node a's on_shutdown shuts down a planner whose start() did not block: that shutdown
    runs inside the hook (a shutdown within a shutdown, in one thread) and stops its nodes
    there; the outer one then stops its own shared node at its last link."""
    order = []
    inner_out, out = ToldOut("inner out", order), ToldOut("out", order)
    inner = Unblocking([Link(Told(name, order), inner_out, 3600) for name in "xy"],
                       immediate_transfer=False, handle_signals=False)
    a, b, c = (Told(name, order) for name in "abc")
    a.hook = inner.shutdown
    runner = run_started(planner_of(Link(a, out, 3600), Link(b, out, 3600), Link(c, out, 3600)))
    inner.start()
    del order[:]
    runner.stop()
    assert runner.error is None
    assert order == ["stop a", "stop x", "stop y", "stop inner out", "stop b", "stop c", "stop out"]
    assert not inner_out.active and not out.active


class AlikeOut(ToldOut):
    """Outlets equal to each other: a shutdown looking for a shared node's last link must not
    take one of them for another."""

    def __eq__(self, other):
        return isinstance(other, AlikeOut)

    def __hash__(self):
        return 1


def test_a_shared_node_is_told_apart_from_nodes_equal_to_it_when_its_last_link_is_looked_for():
    """As above, with the later link's outlet equal to the shared one: the shutdown still makes
    its releases at the shared node's own last link (found by identity), so the node stops in
    the second planner, which stops its last user while the first waits in a later hook."""
    order, events = [], []
    out, alike = AlikeOut("out", order), AlikeOut("alike", order)
    in_hook, go_on = threading.Event(), threading.Event()

    def wait_in_hook():
        in_hook.set()
        assert go_on.wait(10)

    first = planner_of(Link(Told("a", order), out, 3600), Link(Told("b", order), out, 3600),
                       Link(Told("slow", order, hook=wait_in_hook), alike, 3600))
    second = planner_of(Link(Told("e", order), out, 3600))
    second.subscribe(lambda event: events.append(event.node.name), kinds="node_shut_down")
    runners = [run_started(first), run_started(second)]
    stopping = threading.Thread(target=runners[0].stop, daemon=True)
    stopping.start()
    try:
        assert in_hook.wait(10)
        runners[1].stop()
        assert not out.active and "out" in events
    finally:
        go_on.set()
        stopping.join(10)
    assert order.count("stop out") == 1 and not alike.active
