"""What building links and planners leaves for later stays correct when later comes.

Building 10,000 links must be cheap, so a link works some things out on first
need instead of in its constructor: its ``Every`` schedule, whether a transfer
may take the plain shortcut, and each node's lifecycle lock. These tests pin
what a user sees of each, including the races the deferral could open.
"""

import subprocess
import sys
import threading

from databay import Every, Inlet, Link, Outlet
from databay import _lifecycle


class Capture(Outlet):
    def __init__(self):
        super().__init__()
        self.batches = []

    def push(self, records, update):
        self.batches.append([record.payload for record in records])


class One(Inlet):
    def pull(self, update):
        return 1


class Starts(Inlet):
    def __init__(self):
        super().__init__()
        self.starts = 0

    def pull(self, update):
        return 1

    def on_start(self):
        self.starts += 1


def test_an_interval_link_has_one_every_schedule_equal_to_its_interval():
    link = Link(One(), Capture(), interval=3600)
    schedule = link.schedule
    assert schedule == Every(3600) and schedule is link.schedule  # made once, then kept
    assert link.interval_seconds == 3600.0
    assert repr(link) == ("Link(tags:[], interval:1:00:00, inlets:[One()], outlets:[Capture()])")


def test_a_change_of_nodes_while_a_transfer_works_out_its_shortcut_is_not_lost():
    """``add_outlets`` on another thread, between the first transfer's look at the nodes and
    its keeping the answer: the next transfer still pushes to the new outlet too."""
    first, second = Capture(), Capture()

    class Racing(Link):
        raced = False

        def _plain(self):
            answer = super()._plain()  # worked out from one inlet and one outlet
            if not Racing.raced:
                Racing.raced = True
                self.add_outlets(second)  # "another thread" changes the nodes meanwhile
            return answer

    link = Racing(One(), first, interval=1)
    link.transfer()
    link.transfer()
    assert first.batches == [[1], [1]]
    assert second.batches == [[1]]  # the second transfer saw the outlet added during the first


def test_nodes_added_or_removed_between_transfers_are_used_by_the_next():
    first, second = Capture(), Capture()
    link = Link(One(), first, interval=1)
    link.transfer()
    link.add_outlets(second)
    link.transfer()
    link.remove_outlets(first)
    link.transfer()
    assert first.batches == [[1], [1]] and second.batches == [[1], [1]]


def test_two_first_users_of_a_node_share_one_lifecycle_lock(monkeypatch):
    """The node's lock is made on first use; a user that finds another made it meanwhile
    (while it waited to make one) takes that one, so both lock the same lock."""
    node = One()
    made_meanwhile = threading.RLock()

    class OtherThreadFirst:
        def __enter__(self):
            node._lifecycle_lock = made_meanwhile  # the other first user won the race
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(_lifecycle, "_LOCK_MAKING", OtherThreadFirst())
    assert node._checked_lock() is made_meanwhile
    monkeypatch.undo()
    assert node._checked_lock() is made_meanwhile  # and it is kept


def test_a_node_shared_by_links_started_on_many_threads_at_once_starts_once():
    node = Starts()
    links = [Link(node, Capture(), interval=1) for _ in range(8)]
    barrier = threading.Barrier(len(links), timeout=10)

    def start(link):
        barrier.wait()
        link.on_start()

    threads = [threading.Thread(target=start, args=(link,)) for link in links]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert node.starts == 1 and node.active
    for link in links:
        link.on_shutdown()
    assert not node.active


def test_a_link_restarted_after_shutdown_starts_its_nodes_again():
    node = Starts()
    link = Link(node, Capture(), interval=1)
    for _ in range(2):
        link.on_start()
        assert node.active
        link.on_shutdown()
        assert not node.active
    assert node.starts == 2


def test_building_a_planner_does_not_import_logging_when_nothing_configured_it():
    """``add_links`` logs at INFO; with logging never imported no handler or level below WARNING
    can exist, so the line could not show and importing logging (milliseconds) is skipped."""
    code = ("import sys\n"
            "from databay import Inlet, Link, Outlet\n"
            "from databay.planners import SchedulePlanner\n"
            "class In(Inlet):\n"
            "    def pull(self, update): return 1\n"
            "class Out(Outlet):\n"
            "    def push(self, records, update): pass\n"
            "links = [Link(In(), Out(), interval=60) for _ in range(20)]\n"
            "planner = SchedulePlanner(links[:5], handle_signals=False)\n"
            "planner.add_links(links[5:])\n"
            "print('logging' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_adding_links_is_logged_at_info_when_logging_is_configured(caplog):
    import logging

    from databay.planners import SchedulePlanner

    with caplog.at_level(logging.INFO, logger="databay"):
        planner = SchedulePlanner(Link(One(), Capture(), interval=60, tags=["one"]), handle_signals=False)
        planner.add_links([Link(One(), Capture(), interval=60) for _ in range(11)])
    messages = [record.getMessage() for record in caplog.records if record.name == "databay.BasePlanner"]
    assert messages[0].startswith("Added link: Link(tags:['one']")
    assert messages[1].startswith("Added 11 links to ")


def test_links_built_without_tags_processors_or_groupers_each_get_their_own_lists():
    """Until asked for, these empty lists are one shared stand-in; what a user gets is the
    link's own list, so changing one link's lists never changes another's."""
    first, second = Link(One(), Capture(), interval=1), Link(One(), Capture(), interval=1)
    first.tags.append("first")
    first.processors.append(lambda records: records)
    first.groupers.append(lambda batches: batches)
    assert (second.tags, second.processors, second.groupers) == ([], [], [])
    assert first.tags == ["first"] and len(first.processors) == len(first.groupers) == 1
    assert first.tags is first.tags and first.processors is first.processors
    assert first.key == "first" and second.key == ""


def test_a_tagless_links_updates_carry_the_links_own_tags_list():
    seen = []

    class Sees(Inlet):
        def pull(self, update):
            seen.append(update)
            return 1

    link = Link(Sees(), Capture(), interval=1)
    link.transfer()
    assert seen[0].tags is link.tags and str(seen[0]) == "0"
    link.tags.append("named")
    link.transfer()
    assert str(seen[1]) == "named.1"


def test_processors_and_groupers_can_be_replaced_and_changed_between_transfers():
    out = Capture()
    link = Link(One(), out, interval=1)
    link.transfer()
    link.processors = [lambda records: records + records]
    link.transfer()
    link.groupers.append(lambda batches: batches + batches)
    link.transfer()
    assert out.batches == [[1], [1, 1], [1, 1], [1, 1]]


def test_two_first_readers_of_an_empty_list_get_the_same_list(monkeypatch):
    from databay import link as link_module

    link = Link(One(), Capture(), interval=1)
    made_meanwhile = []

    class OtherThreadFirst:
        def __enter__(self):
            link._tags = made_meanwhile  # another thread made the list while this one waited
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(link_module, "_LAZY_MAKING", OtherThreadFirst())
    assert link.tags is made_meanwhile


def test_the_interval_shortcut_accepts_and_refuses_what_to_seconds_does():
    """Link reads a plain int or float interval without calling ``to_seconds``; the same
    seconds come out, and the same errors."""
    import enum
    from _thread import TIMEOUT_MAX

    from databay._validation import to_seconds

    class Minutes(enum.IntEnum):
        ONE = 60

    values = [1, 3600, 0.25, TIMEOUT_MAX, int(TIMEOUT_MAX), int(TIMEOUT_MAX) + 1, TIMEOUT_MAX * 2,
              10 ** 400, 0, -1, 0.0, -0.0, float("nan"), float("inf"), -float("inf"), True, Minutes.ONE]
    for value in values:
        try:
            expected = to_seconds("interval", value)
        except (TypeError, ValueError) as error:
            expected = (type(error), str(error))
        try:
            got = Link(One(), Capture(), interval=value).interval_seconds
        except (TypeError, ValueError) as error:
            got = (type(error), str(error))
        assert got == expected and type(got) is type(expected), value


def test_one_inlet_and_one_outlet_are_checked_as_lists_of_nodes_are():
    """The constructor's shortcut for one inlet and one outlet refuses what the general check
    refuses: a node of the other kind, and a node whose ``__init__`` skipped ``super().__init__()``."""
    from unittest import mock

    from databay.errors import ImplementationError

    class Skipped(Inlet):
        def __init__(self):
            pass

        def pull(self, update):
            return 1

    class SkippedOut(Outlet):
        def __init__(self):
            pass

        def push(self, records, update):
            pass

    for inlets, outlets, error in [(Capture(), Capture(), TypeError), (One(), One(), TypeError),
                                   (Skipped(), Capture(), ImplementationError),
                                   (One(), SkippedOut(), ImplementationError)]:
        for shape in (lambda node: node, lambda node: [node]):
            try:
                Link(shape(inlets), shape(outlets), interval=1)
            except error as raised:
                message = str(raised)
            else:
                raise AssertionError("accepted %r -> %r" % (inlets, outlets))
            assert message, message
    link = Link(mock.MagicMock(spec=Inlet), Capture(), interval=1)  # a stand-in, as 0.3.0 took it
    assert len(link.inlets) == 1 and link.outlets[0].__class__ is Capture


def test_a_schedule_assigned_while_the_first_reader_waits_is_kept(monkeypatch):
    """``link.schedule`` makes ``Every(interval)`` on first use under a lock, and looks again
    under it: a schedule assigned meanwhile (a shard re-aligning the link) is not replaced."""
    from databay import Every
    from databay import link as link_module

    link = Link(One(), Capture(), interval=1)
    aligned = Every(1, align=True)

    class AssignedMeanwhile:
        def __enter__(self):
            link._schedule = aligned
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(link_module, "_LAZY_MAKING", AssignedMeanwhile())
    assert link.schedule is aligned


# -- state a link starts with shared, until its first write (databay builds 10,000 links at once:
# -- every object per link costs its allocation and the garbage collector's visits) --------------


class Refusing(Outlet):
    def push(self, records, update):
        raise RuntimeError("refused")


class Failing(Inlet):
    def pull(self, update):
        raise RuntimeError("failed")


def test_a_links_delivery_counts_are_its_own_from_its_first_count():
    """Links start on one shared set of zero counts; the first count gives the link its own."""
    refusing = Link(One(), Refusing(), interval=1, ignore_exceptions=True)
    other = Link(One(), Capture(), interval=1)
    refusing.transfer()
    refusing.transfer()
    assert refusing.delivery_counts["refused"] == 2 and refusing.delivery_counts["lost"] == 2
    assert set(other.delivery_counts.values()) == {0}
    assert set(Link(One(), Capture(), interval=1).delivery_counts.values()) == {0}
    assert other.stats()["records"]["refused"] == 0


def test_a_links_node_counters_are_its_own_also_for_a_node_it_shares():
    """Per-node counters start in one shared empty map: a link counting a failure of a node it
    shares with another link counts it for itself only."""
    shared = Failing()
    failing = Link(shared, Capture(), interval=1, ignore_exceptions=True)
    idle = Link(shared, Capture(), interval=1, ignore_exceptions=True)
    failing.transfer()
    assert failing.stats()["nodes"][0]["failures"] == 1
    assert idle.stats()["nodes"][0]["failures"] == 0
    assert idle.stats()["nodes"][0]["calls"] == 0


def test_an_inlet_given_no_metadata_gets_its_own_dict_when_it_asks_for_it():
    """Inlets without metadata share one empty mapping until ``metadata`` is read: what the
    inlet gets then is its own dict, so filling it changes no other inlet's records."""

    class Tagging(Inlet):
        def pull(self, update):
            self.metadata["source"] = "tagging"
            return 1

    tagging, plain = Tagging(), One()

    class Keep(Outlet):
        def __init__(self):
            super().__init__()
            self.records = []

        def push(self, records, update):
            self.records.extend(records)

    kept_first, kept_second = Keep(), Keep()
    Link(tagging, kept_first, interval=1).transfer()
    Link(plain, kept_second, interval=1).transfer()
    assert tagging.metadata == {"source": "tagging"} and tagging.metadata is tagging.metadata
    assert plain.metadata == {} and One().metadata == {}
    assert kept_first.records[0].metadata == {"source": "tagging",
                                              "__inlet__": "Tagging(metadata={'source': 'tagging'})"}
    assert kept_second.records[0].metadata == {"__inlet__": "One()"}


def test_a_links_abandoned_calls_are_its_own():
    """Links share one empty map of abandoned calls until a node-call timeout applies: the link
    whose call was abandoned remembers it, no other link does."""
    from databay.errors import NodeTimeoutError

    release = threading.Event()

    class Hanging(Inlet):
        def pull(self, update):
            release.wait(60)
            return 1

    timed = Link(Hanging(), Capture(), interval=1, timeout=0.2)
    other = Link(One(), Capture(), interval=1)
    try:
        try:
            timed.transfer()
        except NodeTimeoutError:
            pass
        else:
            raise AssertionError("the hung pull was not abandoned")
        assert len(timed._abandoned) == 1
        assert other._abandoned == {} and Link(One(), Capture(), interval=1)._abandoned == {}
    finally:
        release.set()


def test_adding_links_leaves_the_garbage_collector_as_it_found_it():
    """add_links pauses the collector while it registers the links, and restores it: running if
    it ran, paused if the application paused it, also when adding fails."""
    import gc

    from databay.planners import SchedulePlanner

    class Refuses:
        def bind(self, anchor, clock, seed):
            raise ValueError("no timeline")

    was = gc.isenabled()
    try:
        gc.enable()
        planner = SchedulePlanner(Link(One(), Capture(), interval=1), handle_signals=False)
        assert gc.isenabled()
        gc.disable()
        planner.add_links(Link(One(), Capture(), interval=1))
        assert not gc.isenabled()
        gc.enable()
        with planner:
            try:
                planner.add_links(Link(One(), Capture(), schedule=Refuses()))
            except ValueError:
                pass
            else:
                raise AssertionError("the schedule's refusal was not raised")
            assert gc.isenabled()
        assert len(planner.links) == 2
    finally:
        (gc.enable if was else gc.disable)()


def test_a_link_built_without_options_holds_what_their_parsers_set_for_none():
    """Link() skips the timeout, delivery and key parsers when none of those options is given;
    the link must hold exactly what the parsers set for None (a new option added to a parser
    but not to the shortcut shows here)."""
    built = Link(One(), Capture(), interval=1)
    parsed = Link(One(), Capture(), interval=1)
    parsed._init_timeout(None)
    parsed._init_delivery(None, None, None)
    parsed._init_key(None)
    names = ("_timeout", "_default_timeout", "_retry", "_dead_letter", "_journal", "_key", "_delivery",
             "timeout", "retry", "dead_letter", "journal", "key", "delivery_counts")
    assert {name: getattr(built, name) for name in names} == {name: getattr(parsed, name) for name in names}
    assert vars(built) == vars(parsed) == {}  # nothing beyond the slots: the rest is the class's
    keyed = Link(One(), Capture(), interval=1, key="k", timeout=5)
    assert (keyed.key, keyed.timeout, built.key, built.timeout) == ("k", 5, "", None)


def test_a_node_that_skipped_super_init_is_refused_when_a_link_first_uses_it():
    """A node's lifecycle state is read from its class until first changed; a node whose
    ``__init__`` skipped ``super().__init__()`` must still be refused, not started."""
    from databay.errors import ImplementationError

    class Skipped(Inlet):
        def __init__(self):
            self.started = False

        def pull(self, update):
            return 1

        def on_start(self):
            self.started = True

    node = Skipped()
    for use in (node._acquire, node.try_start, node._checked_lock):
        try:
            use()
        except ImplementationError as error:
            assert "super().__init__()" in str(error)
        else:
            raise AssertionError("%s accepted a node that skipped super().__init__()" % use.__name__)
    assert node.started is False
    first, second = One(), One()
    first._acquire()
    assert first.active and not second.active and second._users == 0 and first._users == 1
    assert first._checked_lock() is not second._checked_lock()
    first._release()
    assert not first.active


def test_an_inlet_sets_what_the_lifecycle_initialiser_sets():
    """Inlet.__init__ sets the lifecycle state itself instead of calling ``_init_lifecycle``
    (one call less per inlet): it must set everything that method sets, to the same values."""
    probe = object.__new__(One)
    probe._init_lifecycle()
    built = vars(One())
    assert vars(probe) and {name: built.get(name, "missing") for name in vars(probe)} == vars(probe)


def test_an_inlet_knows_whether_its_pull_is_a_coroutine_as_is_coroutine_callable_says():
    """Inlet.__init__ repeats is_coroutine_callable's first test (a plain method) inline; every
    other pull (a callable object, a partial, one set on the instance) still goes through it."""
    import functools

    from databay._coroutines import is_coroutine_callable

    class Sync(Inlet):
        def pull(self, update):
            return 1

    class Async(Inlet):
        async def pull(self, update):
            return 1

    class AsyncCall:
        async def __call__(self, update):
            return 1

    class Own(Inlet):
        def __init__(self, pull):
            self.pull = pull  # set before super().__init__(): the inlet's pull from now on
            super().__init__()

        def pull(self, update):
            return 1

    async def pulled(update):
        return 1

    inlets = [Sync(), Async(), Own(AsyncCall()), Own(functools.partial(pulled)), Own(lambda update: 1)]
    assert [inlet._uses_coroutine for inlet in inlets] == [False, True, True, True, False]
    assert [inlet._uses_coroutine for inlet in inlets] == [is_coroutine_callable(i.pull) for i in inlets]
