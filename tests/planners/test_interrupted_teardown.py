"""A node hook raising KeyboardInterrupt or SystemExit while links stop.

The rule (as ``contextlib.ExitStack`` unwinds): every other node is still released, every
other hook still called, and the first such interrupt is raised once that is done, out of
``shutdown()``, ``start()`` or ``link.on_shutdown()``. The planner is idle and starts again,
and no node is left with a user nobody holds.
"""

import threading

import pytest

from databay import Link
from databay.planners import SchedulePlanner

from .conftest import CountedIn, CountedOut, Unblocking, in_thread


def counts(*nodes):
    return [(node.name, node.starts, node.stops, node.active) for node in nodes]


def build(raises):
    """Four links over shared outlets, the second link's first inlet raising ``raises``; and a
    link outside the planner that shares the first outlet."""
    out, other_out = CountedOut("out"), CountedOut("other out")
    a, boom, b, c, d = (CountedIn(name) for name in ("a", "boom", "b", "c", "d"))
    boom.raises = raises
    links = [Link(a, out, 3600), Link([boom, b], out, 3600), Link(c, out, 3600),
             Link(d, other_out, 3600)]
    outside = Link(CountedIn("e"), out, 3600)
    return links, outside, (a, boom, b, c, d, out, other_out)


@pytest.mark.parametrize("raises", [KeyboardInterrupt, SystemExit])
@pytest.mark.parametrize("own_hook", [False, True], ids=["plain", "link hook set"])
def test_an_interrupt_in_a_node_hook_still_stops_every_other_node_then_propagates(raises, own_hook):
    """``own_hook``: the raising link's on_shutdown set on the instance, so the teardown calls
    it instead of stopping the link with its own steps."""
    links, outside, nodes = build(raises())
    if own_hook:
        link = links[1]
        link.on_shutdown = lambda: Link.on_shutdown(link)
    planner = Unblocking(links, immediate_transfer=False, handle_signals=False)
    outside.on_start()
    planner.start()
    with pytest.raises(raises):
        planner.shutdown()
    assert not planner.running
    # every inlet stopped once; ``out`` keeps the link outside, ``other out`` stopped
    assert counts(*nodes) == [("a", 1, 1, False), ("boom", 1, 1, False), ("b", 1, 1, False),
                              ("c", 1, 1, False), ("d", 1, 1, False), ("out", 1, 0, True),
                              ("other out", 1, 1, False)]
    outside.on_shutdown()  # its last user: the count of users was kept right
    assert counts(nodes[5]) == [("out", 1, 1, False)]
    planner.start()  # and the planner starts and stops again
    planner.shutdown()
    assert [node.stops for node in nodes] == [2] * 7 and not any(node.active for node in nodes)


def test_an_interrupt_in_a_node_hook_propagates_out_of_a_blocking_start():
    """A SchedulePlanner's start() (in a thread) raises it after its teardown stopped every
    node; a shutdown() waiting for that teardown returns."""
    links, _, nodes = build(KeyboardInterrupt())
    planner = SchedulePlanner(links, immediate_transfer=False, handle_signals=False)
    thread, raised = in_thread(planner.start)
    stopping = threading.Thread(target=planner.shutdown, daemon=True)
    while not planner.running and thread.is_alive():
        thread.join(0.01)
    stopping.start()
    stopping.join(20)
    thread.join(20)
    assert not stopping.is_alive() and not thread.is_alive()
    assert [type(error) for error in raised] == [KeyboardInterrupt]
    assert not any(node.active for node in nodes)
    assert [node.stops for node in nodes] == [1] * 7


def test_an_interrupt_in_a_node_hook_of_link_on_shutdown_still_stops_its_other_nodes():
    """By hand: link.on_shutdown() releases the link's other nodes, then raises it."""
    boom, a, out = CountedIn("boom", KeyboardInterrupt()), CountedIn("a"), CountedOut("out")
    link = Link([boom, a], out, 3600)
    link.on_start()
    with pytest.raises(KeyboardInterrupt):
        link.on_shutdown()
    assert counts(boom, a, out) == [("boom", 1, 1, False), ("a", 1, 1, False),
                                    ("out", 1, 1, False)]
    link.on_start()
    link.on_shutdown()
    assert counts(boom, a, out) == [("boom", 2, 2, False), ("a", 2, 2, False),
                                    ("out", 2, 2, False)]


@pytest.mark.parametrize("raises", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_while_buffers_are_flushed_still_stops_every_node(raises):
    """A flush interrupted (a Buffer's outlet pushing, here the link's flush itself) does not
    leave the nodes started: the teardown stops every link, then the interrupt propagates."""
    links, _, nodes = build(None)

    def interrupted_flush():
        raise raises()

    links[0].flush = interrupted_flush
    planner = Unblocking(links, immediate_transfer=False, handle_signals=False)
    planner.start()
    with pytest.raises(raises):
        planner.shutdown()
    assert not planner.running
    assert not any(node.active for node in nodes)
    assert [node.stops for node in nodes] == [1] * 7
    del links[0].flush
    planner.start()  # and it starts and stops again
    planner.shutdown()
    assert [node.stops for node in nodes] == [2] * 7
