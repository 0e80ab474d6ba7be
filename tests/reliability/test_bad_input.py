"""Crash-free bad input: every public constructor and method refuses bad arguments by name.

Each case must raise TypeError, ValueError or a DatabayError whose message names
the offending parameter, and a running planner must not notice any of it.
"""

import datetime
import importlib.util
import threading

import pytest

from databay import Inlet, Link, Outlet
from databay.errors import DatabayError
from databay.inlets import FileInlet, HttpInlet, NullInlet, RandomIntInlet
from databay.outlets import CsvOutlet, FileOutlet, NullOutlet, PrintOutlet
from databay.outlets.sqlite_outlet import SqliteOutlet
from databay.planners import ApsPlanner, SchedulePlanner
from databay.support.buffers import Buffer

ACCEPTED = (TypeError, ValueError, DatabayError)


class Plain(Inlet):
    def pull(self, update):
        return 1


class Sink(Outlet):
    def push(self, records, update):
        pass


class NoSuper(Inlet):
    def __init__(self):  # forgets super().__init__()
        pass

    def pull(self, update):
        return 1


def link(**kwargs):
    return Link(Plain(), Sink(), 1, **kwargs)


# (id, call taking a context dict, text the message must contain)
CASES = [
    # Link
    ("link-inlets-type", lambda c: Link("inlet", Sink(), 1), "inlets"),
    ("link-outlets-type", lambda c: Link(Plain(), [Sink(), 3], 1), "outlets"),
    ("link-interval-negative", lambda c: Link(Plain(), Sink(), -1), "interval"),
    ("link-interval-zero", lambda c: Link(Plain(), Sink(), 0), "interval"),
    ("link-interval-str", lambda c: Link(Plain(), Sink(), "5"), "interval"),
    ("link-interval-nan", lambda c: Link(Plain(), Sink(), float("nan")), "interval"),
    ("link-interval-inf", lambda c: Link(Plain(), Sink(), float("inf")), "interval"),
    ("link-interval-bool", lambda c: Link(Plain(), Sink(), True), "interval"),
    ("link-interval-timedelta", lambda c: Link(Plain(), Sink(), datetime.timedelta(0)), "interval"),
    ("link-tags", lambda c: link(tags=[1, 2]), "tags"),
    ("link-inlet-concurrency-zero", lambda c: link(inlet_concurrency=0), "inlet_concurrency"),
    ("link-inlet-concurrency-float", lambda c: link(inlet_concurrency=1.5), "inlet_concurrency"),
    ("link-processors", lambda c: link(processors=[len, "x"]), "processors"),
    ("link-groupers", lambda c: link(groupers=5), "groupers"),
    ("link-duplicate-inlet", lambda c: Link([c["inlet"], c["inlet"]], Sink(), 1), "inlet"),
    ("link-no-super-init", lambda c: Link(NoSuper(), Sink(), 1), "super().__init__()"),
    ("link-add-inlets", lambda c: link().add_inlets(object()), "inlets"),
    ("link-add-outlets", lambda c: link().add_outlets(Plain()), "outlets"),
    ("link-remove-inlets", lambda c: link().remove_inlets(Plain()), "inlet"),
    ("link-remove-outlets", lambda c: link().remove_outlets(Sink()), "outlet"),
    # Inlet / Outlet
    ("inlet-metadata", lambda c: Plain(metadata=[("a", 1)]), "metadata"),
    ("inlet-new-record-metadata", lambda c: Plain().new_record(1, metadata=5), "metadata"),
    ("outlet-processors", lambda c: Sink(processors=42), "processors"),
    # planners
    ("schedule-threads-zero", lambda c: SchedulePlanner(threads=0), "threads"),
    ("schedule-threads-str", lambda c: SchedulePlanner(threads="4"), "threads"),
    ("schedule-links", lambda c: SchedulePlanner(links=[link(), "x"]), "links"),
    ("aps-threads", lambda c: ApsPlanner(threads=-1), "threads"),
    ("aps-links", lambda c: ApsPlanner(links=3), "links"),
    ("planner-add-links-type", lambda c: c["planner"].add_links(object()), "links"),
    ("planner-add-links-twice", lambda c: c["planner"].add_links(c["link"]), "links"),
    ("planner-remove-missing", lambda c: c["planner"].remove_links(link()), "link"),
    ("planner-start-twice", lambda c: c["planner"].start(), "start()"),
    # Buffer
    ("buffer-count-negative", lambda c: Buffer(count_threshold=-1), "count_threshold"),
    ("buffer-count-float", lambda c: Buffer(count_threshold=2.5), "count_threshold"),
    ("buffer-time-negative", lambda c: Buffer(time_threshold=-1), "time_threshold"),
    ("buffer-time-str", lambda c: Buffer(time_threshold="1"), "time_threshold"),
    ("buffer-time-inf", lambda c: Buffer(time_threshold=float("inf")), "time_threshold"),
    ("buffer-controllers", lambda c: Buffer(custom_controllers=[1]), "custom_controllers"),
    ("buffer-on-reset", lambda c: Buffer(on_reset="reset"), "on_reset"),
    ("buffer-conjugate", lambda c: Buffer(conjugate_controllers="yes"), "conjugate_controllers"),
    ("buffer-clock", lambda c: Buffer(clock=3), "clock"),
    # built-in inlets
    ("null-inlet-metadata", lambda c: NullInlet(metadata=1), "metadata"),
    ("random-min", lambda c: RandomIntInlet(min="0"), "min"),
    ("random-max", lambda c: RandomIntInlet(max=1.5), "max"),
    ("random-min-over-max", lambda c: RandomIntInlet(min=5, max=1), "min"),
    ("file-inlet-path", lambda c: FileInlet(None), "filepath"),
    ("file-inlet-empty-path", lambda c: FileInlet(""), "filepath"),
    ("file-inlet-mode", lambda c: FileInlet("x.txt", read_mode="words"), "read_mode"),
    ("file-inlet-encoding", lambda c: FileInlet("x.txt", encoding="no-such-codec"), "encoding"),
    ("http-url-type", lambda c: HttpInlet(b"http://x"), "url"),
    ("http-url-scheme", lambda c: HttpInlet("ftp://example.com/x"), "url"),
    ("http-url-file", lambda c: HttpInlet("file:///etc/passwd"), "url"),
    ("http-json", lambda c: HttpInlet("http://example.com", json="yes"), "json"),
    ("http-cacert", lambda c: HttpInlet("https://example.com", cacert=5), "cacert"),
    ("http-params", lambda c: HttpInlet("http://example.com", params=5), "params"),
    ("http-headers", lambda c: HttpInlet("http://example.com", headers=["a"]), "headers"),
    ("http-timeout-negative", lambda c: HttpInlet("http://example.com", timeout=-1), "timeout"),
    ("http-timeout-str", lambda c: HttpInlet("http://example.com", timeout="1"), "timeout"),
    # built-in outlets
    ("null-outlet-processors", lambda c: NullOutlet(processors="x"), "processors"),
    ("print-outlet-processors", lambda c: PrintOutlet(processors=[None]), "processors"),
    ("file-outlet-path", lambda c: FileOutlet(5), "default_filepath"),
    ("file-outlet-mode", lambda c: FileOutlet(c["tmp"] / "f.txt", default_file_mode="r"),
     "default_file_mode"),
    ("file-outlet-encoding", lambda c: FileOutlet(c["tmp"] / "f.txt", default_encoding=1),
     "default_encoding"),
    ("file-outlet-base-dir", lambda c: FileOutlet("../escape.txt", base_dir=c["tmp"]),
     "default_filepath"),
    ("csv-outlet-path", lambda c: CsvOutlet(None), "default_filepath"),
    ("csv-outlet-mode", lambda c: CsvOutlet(c["tmp"] / "f.csv", default_file_mode="x"),
     "default_file_mode"),
    ("csv-outlet-escape", lambda c: CsvOutlet(c["tmp"] / "f.csv", escape_formulas="no"),
     "escape_formulas"),
    ("sqlite-database", lambda c: SqliteOutlet(None, "t"), "database"),
    ("sqlite-memory", lambda c: SqliteOutlet(":memory:", "t"), "database"),
    ("sqlite-table", lambda c: SqliteOutlet(c["tmp"] / "d.db", "x; DROP TABLE y"), "table"),
    ("sqlite-timeout", lambda c: SqliteOutlet(c["tmp"] / "d.db", "t", timeout=-2), "timeout"),
]


@pytest.fixture(scope="module")
def running_planner(tmp_path_factory):
    """A SchedulePlanner running a 10 ms link for the whole module, and how it is doing."""
    pulls = []
    stopped = threading.Event()

    class Counting(Inlet):
        def pull(self, update):
            pulls.append(update.transfer_number)
            return update.transfer_number

    class Keep(Outlet):
        def __init__(self):
            super().__init__()
            self.records = []

        def push(self, records, update):
            self.records.extend(record.payload for record in records)

    outlet = Keep()
    the_link = Link(Counting(), outlet, 0.01)
    planner = SchedulePlanner(the_link, threads=1)  # one worker: no thread appears mid-module
    errors = []

    def run():
        try:
            planner.start()
        except BaseException as error:
            errors.append(error)
        stopped.set()

    thread = threading.Thread(target=run, name="reliability-bad-input-planner")
    thread.start()
    def settled():  # transferring, with its one worker running (threads=1: no spawner is needed)
        names = {thread.name for thread in threading.enumerate()}
        return pulls and any(name.startswith("databay-worker-") for name in names)

    for _ in range(3000):  # so that no thread appears while a test watches for leaks
        if settled():
            break
        stopped.wait(0.01)
    assert settled(), "the planner did not start"
    context = {"planner": planner, "link": the_link, "inlet": Plain(), "pulls": pulls,
               "outlet": outlet, "errors": errors, "tmp": tmp_path_factory.mktemp("bad-input")}
    yield context
    planner.shutdown(wait=True)
    assert stopped.wait(30)
    thread.join(30)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case_id,call,names", CASES, ids=[case[0] for case in CASES])
def test_bad_argument_is_refused_by_name_and_planner_unaffected(case_id, call, names,
                                                                running_planner):
    """A bad argument raises TypeError/ValueError/DatabayError naming the parameter; the running planner carries on."""
    if case_id.startswith("aps-") and importlib.util.find_spec("apscheduler") is None:
        pytest.skip("APScheduler not installed (install databay[aps])")
    planner = running_planner["planner"]
    before = len(running_planner["pulls"])
    with pytest.raises(ACCEPTED) as caught:
        call(running_planner)
    assert names in str(caught.value), (case_id, str(caught.value))
    assert planner.running and running_planner["errors"] == []
    assert planner.links == [running_planner["link"]]
    deadline = threading.Event()
    for _ in range(200):  # the planner still transfers: its link's pulls keep coming
        if len(running_planner["pulls"]) > before:
            break
        deadline.wait(0.01)
    assert len(running_planner["pulls"]) > before, "the planner stopped transferring"
