"""Item 8: sync pulls of one link run concurrently; inlet_concurrency=1 keeps them on one thread."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from databay import Inlet, Link, Outlet


class QueryInlet(Inlet):
    """Reads a row count through a connection it shares with other inlets."""

    def __init__(self, connection, table, barrier=None):
        super().__init__()
        self.connection, self.table, self.barrier = connection, table, barrier
        self.threads = []

    def pull(self, update):
        self.threads.append(threading.get_ident())
        if self.barrier is not None:
            self.barrier.wait()  # both pulls are running at this point
        return self.connection.execute('SELECT count(*) FROM "%s"' % self.table).fetchone()[0]


class AsyncNoop(Inlet):
    async def pull(self, update):
        return "async"


class Collect(Outlet):
    def __init__(self):
        super().__init__()
        self.payloads = []

    def push(self, records, update):
        self.payloads.extend(record.payload for record in records)


@pytest.fixture
def connection(tmp_path):
    """A real sqlite3 connection made on this thread (check_same_thread, as by default)."""
    connection = sqlite3.connect(str(tmp_path / "shared.sqlite"))
    connection.executescript("CREATE TABLE a (x); CREATE TABLE b (x); INSERT INTO a VALUES (1);"
                             "INSERT INTO b VALUES (1); INSERT INTO b VALUES (2);")
    yield connection
    connection.close()


def test_inlet_concurrency_1_pulls_on_the_calling_thread(connection):
    """With inlet_concurrency=1 every pull runs on the thread calling transfer(): the shared
    connection works, as it did in 0.3.0."""
    inlets = [QueryInlet(connection, "a"), QueryInlet(connection, "b")]
    outlet = Collect()
    Link(inlets, outlet, interval=1, inlet_concurrency=1).transfer()
    assert outlet.payloads == [1, 2]
    assert [inlet.threads for inlet in inlets] == [[threading.get_ident()]] * 2


def test_inlet_concurrency_1_also_with_a_coroutine_inlet(connection):
    """A link with an async def node runs on an event loop; limit 1 still keeps sync pulls inline."""
    inlets = [QueryInlet(connection, "a"), AsyncNoop(), QueryInlet(connection, "b")]
    outlet = Collect()
    Link(inlets, outlet, interval=1, inlet_concurrency=1).transfer()
    assert outlet.payloads == [1, "async", 2]
    assert inlets[0].threads == inlets[2].threads == [threading.get_ident()]


def test_by_default_sync_pulls_run_concurrently(connection):
    """The default keeps pulls concurrent (blocking inlets must not serialise): two pulls wait for
    each other at a barrier, so they are on two threads, and sqlite3 refuses the foreign one."""
    barrier = threading.Barrier(2, timeout=30)
    inlets = [QueryInlet(connection, "a", barrier), QueryInlet(connection, "b", barrier)]
    with pytest.raises(sqlite3.ProgrammingError, match="thread"):
        Link(inlets, Collect(), interval=1).transfer()
    assert len({*inlets[0].threads, *inlets[1].threads}) == 2
