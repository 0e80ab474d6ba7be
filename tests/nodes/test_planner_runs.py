"""Built-in nodes and Buffers under a real SchedulePlanner, checked after shutdown."""

import csv
import json
import sqlite3
import threading

from databay import Outlet
from databay.inlets import FileInlet, HttpInlet
from databay.outlets import CsvOutlet, FileOutlet, SqliteOutlet
from databay.support.buffers import Buffer


def sqlite_rows(path, sql):
    connection = sqlite3.connect(str(path))
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


class _Seen:
    """A link processor that counts records and sets ``enough`` once ``target`` were seen."""

    def __init__(self, target):
        self.target = target
        self.count = 0
        self.enough = threading.Event()

    def __call__(self, records):
        self.count += len(records)
        if self.count >= self.target:
            self.enough.set()
        return records


def test_sqlite_rows_equal_records_produced(tmp_path, counting_inlet, link_factory, run_planner):
    """After a planner run, the re-opened database holds exactly the records the inlet produced."""
    db = tmp_path / "run.db"
    inlet = counting_inlet(per_pull=3, target=5)
    run_planner(link_factory(inlet, SqliteOutlet(db, "rows")), inlet)
    rows = sqlite_rows(db, "SELECT n FROM rows ORDER BY rowid")
    assert [n for (n,) in rows] == list(range(inlet.produced))
    assert inlet.produced >= 15


def test_link_buffer_holding_records_at_shutdown_delivers_them(tmp_path, counting_inlet,
                                                               link_factory, run_planner):
    """A link Buffer still holding records at shutdown is flushed: records produced == CSV rows written."""
    path = tmp_path / "buffered.csv"
    buffer = Buffer(count_threshold=7)  # releases now and then, and holds a remainder at shutdown
    inlet = counting_inlet(per_pull=3, target=6)
    run_planner(link_factory(inlet, CsvOutlet(path), processors=[buffer]), inlet)
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == inlet.produced
    assert sorted(int(row["n"]) for row in rows) == list(range(inlet.produced))
    assert buffer.records == []


def test_outlet_buffer_holding_everything_is_flushed_at_shutdown(tmp_path, counting_inlet,
                                                                 link_factory, run_planner):
    """An outlet Buffer that never released (1 h threshold) delivers all records at shutdown."""
    db = tmp_path / "held.db"
    buffer = Buffer(time_threshold=3600)
    inlet = counting_inlet(per_pull=2, target=4)
    outlet = SqliteOutlet(db, "held", processors=[buffer])
    run_planner(link_factory(inlet, outlet), inlet)
    assert sqlite_rows(db, "SELECT count(*) FROM held") == [(inlet.produced,)]
    assert buffer.records == []


def test_file_inlet_line_mode_to_file_outlet(tmp_path, link_factory):
    """FileInlet (LINE) copies a file line by line through a planner; the file is closed at shutdown."""
    from databay.planners import SchedulePlanner

    source = tmp_path / "in.txt"
    source.write_text("".join("line %d\n" % i for i in range(5)), encoding="utf-8")
    target = tmp_path / "out.txt"
    seen = _Seen(5)
    inlet = FileInlet(source)
    # strip the raw newline in a processor; FileOutlet adds its own
    strip = [lambda records: [setattr(r, "payload", r.payload.rstrip("\n")) or r for r in records]]
    link = link_factory(inlet, FileOutlet(target), processors=[seen] + strip)
    with SchedulePlanner(link):
        assert seen.enough.wait(20)
    assert target.read_text(encoding="utf-8") == "".join("line %d\n" % i for i in range(5))
    assert inlet._file is None and inlet.active is False


def test_http_inlet_to_sqlite_under_planner(http_server, tmp_path, link_factory):
    """HttpInlet JSON records reach SQLite under a planner; nested values are JSON text."""
    from databay.planners import SchedulePlanner

    db = tmp_path / "http.db"
    seen = _Seen(3)
    link = link_factory(HttpInlet(http_server.url + "/json"), SqliteOutlet(db, "api"),
                        processors=[seen])
    with SchedulePlanner(link):
        assert seen.enough.wait(20)
    rows = sqlite_rows(db, "SELECT a, b FROM api")
    assert len(rows) == seen.count >= 3
    assert all(a == 1 and json.loads(b) == [1, 2] for a, b in rows)


class _Counting(Outlet):
    def __init__(self, processors=None):
        super().__init__(processors)
        self.count = 0
        self._lock = threading.Lock()

    def push(self, records, update):
        with self._lock:
            self.count += len(records)


def test_buffer_shared_by_two_links_loses_nothing(counting_inlet):
    """One Buffer used by two links at once: every produced record is pushed exactly once."""
    from databay import Link
    from databay.planners import SchedulePlanner

    buffer = Buffer(count_threshold=5)
    outlet = _Counting()
    first, second = counting_inlet(per_pull=2, target=10), counting_inlet(per_pull=3, target=10)
    links = [Link(first, outlet, interval=0.005, processors=[buffer]),
             Link(second, outlet, interval=0.007, processors=[buffer])]
    with SchedulePlanner(links):
        assert first.enough.wait(20) and second.enough.wait(20)
    assert outlet.count == first.produced + second.produced
    assert buffer.records == []
