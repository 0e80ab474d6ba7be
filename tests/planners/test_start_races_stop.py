"""A link started in one thread while another stops it (a planner's teardown, or by hand).

Whichever wins, the counts balance: every node's users are the started links holding it,
and a node nobody uses any more is shut down, exactly once. A start that finds its link
stopped meanwhile gives back the node it was acquiring and returns; nothing raises.
The interleavings are forced with a node hook that blocks on an Event.
"""

import random
import sys

from databay import Link
from databay.link import shutdown_links

from .conftest import CountedIn, CountedOut, Unblocking, in_thread


def test_a_start_that_a_planner_teardown_overtakes_gives_its_node_back():
    """on_start has started a and waits in b's on_start while the planner's teardown stops the
    link (taking a): b is given back (shut down), the start returns, and the link starts and
    stops again with every node started and stopped once more."""
    a, b, out = CountedIn("a"), CountedIn("b"), CountedOut("out")
    link = Link([a, b], out, 3600)
    planner = Unblocking(link, immediate_transfer=False, handle_signals=False)
    planner.start()
    link.on_shutdown()  # stopped by hand; the planner still holds it
    b.block_start = True
    starting, raised = in_thread(link.on_start)
    assert b.entered.wait(20)
    planner.shutdown()  # its teardown stops the link meanwhile
    b.go.set()
    starting.join(20)
    assert not starting.is_alive() and raised == []
    assert [(n.starts, n.stops, n.active) for n in (a, b, out)] == [(2, 2, False), (2, 2, False),
                                                                     (1, 1, False)]
    link.on_start()
    assert a.active and b.active and out.active
    link.on_shutdown()
    assert [(n.starts, n.stops, n.active) for n in (a, b, out)] == [(3, 3, False), (3, 3, False),
                                                                     (2, 2, False)]


def test_a_shared_node_keeps_the_user_a_start_still_holds_when_a_stop_overtakes_it():
    """The same with ``out`` shared by a second, started link: out keeps exactly that user,
    stops when it stops, and the raced link starts and stops it again afterwards."""
    a, b, out = CountedIn("a"), CountedIn("b"), CountedOut("out")
    link, other = Link([a, b], out, 3600), Link(CountedIn("c"), out, 3600)
    other.on_start()
    link.on_start()
    link.on_shutdown()
    b.block_start = True
    starting, raised = in_thread(link.on_start)
    assert b.entered.wait(20)
    shutdown_links([link], lambda link, error: raised.append(error))
    b.go.set()
    starting.join(20)
    assert not starting.is_alive() and raised == []
    assert not a.active and not b.active and out.active
    other.on_shutdown()
    assert not out.active and (out.starts, out.stops) == (1, 1)
    link.on_start()
    link.on_shutdown()
    assert (out.starts, out.stops, b.starts, b.stops) == (2, 2, 3, 3)


def test_an_inlet_added_to_a_link_that_a_stop_overtakes_is_stopped_again():
    """add_inlets() on a started link starts the new inlet; a stop meanwhile (another thread)
    took the link's nodes: the new inlet is stopped again, not left with a user nobody holds."""
    out = CountedOut("out")
    link = Link(CountedIn("a"), out, 3600)
    link.on_start()
    late = CountedIn("late")
    late.block_start = True
    adding, raised = in_thread(lambda: link.add_inlets(late))
    assert late.entered.wait(20)
    link.on_shutdown()
    late.go.set()
    adding.join(20)
    assert not adding.is_alive() and raised == []
    assert late in link.inlets and not late.active and (late.starts, late.stops) == (1, 1)
    link.on_start()
    link.on_shutdown()
    assert (late.starts, late.stops, out.starts, out.stops) == (2, 2, 2, 2)


def test_starts_and_stops_racing_a_teardown_keep_every_count_right():
    """A short stress run (about a second): one thread tears down nine links sharing an outlet
    while another starts and stops them and links of a second group at random, with thread
    switches forced often. Nothing raises, and once every link is stopped again, every node
    is stopped, as often as it was started (a user nobody holds would keep it running)."""
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for trial in range(300):
            shared, both = CountedOut("N"), CountedIn("M")
            mine = [Link(CountedIn("a%d" % i), shared, 3600) for i in range(8)]
            mine.append(Link(both, shared, 3600))
            theirs = [Link(CountedIn("b%d" % i), shared, 3600) for i in range(3)]
            theirs.append(Link(both, CountedOut("x"), 3600))
            links = mine + theirs
            for link in links:
                link.on_start()
            rnd = random.Random(trial)

            def meddle():
                for _ in range(6):
                    link = rnd.choice(links)
                    (link.on_shutdown if rnd.random() < 0.6 else link.on_start)()

            meddling, raised = in_thread(meddle)
            shutdown_links(mine, lambda link, error: raised.append(error))
            meddling.join(20)
            assert not meddling.is_alive() and raised == [], trial
            for node in (shared, both):
                assert node.starts - node.stops == int(node.active), (trial, node)
            for link in links:
                link.on_shutdown()
            for node in [shared, both] + [n for link in links for n in link.inlets]:
                assert not node.active and node.starts == node.stops, (trial, node)
    finally:
        sys.setswitchinterval(switch)


def test_a_stop_that_overtakes_a_start_still_inside_its_first_node_gives_every_node_back():
    """The teardown comes while the start is still in its first node's on_start (the link's
    list of nodes is empty then): it takes the list all the same, so the start gives back
    every node it acquires instead of keeping them in a stopped link."""
    a, out = CountedIn("a"), CountedOut("out")
    link = Link(a, out, 3600)
    a.block_start = True
    starting, raised = in_thread(link.on_start)
    assert a.entered.wait(20)
    shutdown_links([link], lambda link, error: raised.append(error))
    a.go.set()
    starting.join(20)
    assert not starting.is_alive() and raised == []
    assert [(n.starts, n.stops, n.active) for n in (a, out)] == [(1, 1, False), (0, 0, False)]
    link.on_start()
    link.on_shutdown()
    assert [(n.starts, n.stops, n.active) for n in (a, out)] == [(2, 2, False), (1, 1, False)]


def test_a_stop_by_hand_while_a_start_is_inside_its_first_node_gives_every_node_back():
    """As above with ``link.on_shutdown()`` by hand in another thread: it takes the empty list
    too, and the start gives back the node it was starting and starts no other."""
    a, out = CountedIn("a"), CountedOut("out")
    link = Link(a, out, 3600)
    a.block_start = True
    starting, raised = in_thread(link.on_start)
    assert a.entered.wait(20)
    link.on_shutdown()
    a.go.set()
    starting.join(20)
    assert not starting.is_alive() and raised == []
    assert [(n.starts, n.stops, n.active) for n in (a, out)] == [(1, 1, False), (0, 0, False)]
