"""The journal in one process: committed before processors, replayed on start, shared by links."""

import os
import sqlite3
from contextlib import closing

import pytest

from databay import Inlet, Link, Outlet, Retry
from databay.support.buffers import Buffer


class Counter(Inlet):
    def __init__(self, size=2):
        super().__init__()
        self.size = size
        self.next = 0
        self.acknowledged = []

    def pull(self, update):
        values = list(range(self.next, self.next + self.size))
        self.next += self.size
        return values

    def on_delivered(self, update):
        self.acknowledged.append(update.transfer_number)


class Sink(Outlet):
    def __init__(self, down=False):
        super().__init__()
        self.down = down
        self.numbers = []

    def push(self, records, update):
        if self.down:
            raise OSError("down")
        self.numbers.extend(r.payload for r in records)


def _rows(path, table="databay_pulled"):
    with closing(sqlite3.connect(str(path))) as db:
        return db.execute("SELECT COUNT(*) FROM %s" % table).fetchone()[0]


def _crash(link):
    """What a kill -9 leaves: the journal as it is, nothing settled or released."""
    delivery = link._delivery
    delivery.journal.release(delivery.name)
    delivery.journal = None


def test_records_are_committed_before_processors_run_and_removed_once_delivered(tmp_path):
    path = tmp_path / "j.sqlite"
    seen = []

    def look(records):
        seen.append(_rows(path))  # another connection sees the committed row
        return records

    inlet, sink = Counter(), Sink()
    link = Link(inlet, sink, 1, processors=[look], journal=str(path))
    link.on_start()
    link.transfer()
    assert seen == [1]
    assert sink.numbers == [0, 1]
    assert _rows(path) == 0
    assert inlet.acknowledged == [0]
    link.on_shutdown()
    with closing(sqlite3.connect(str(path))) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_on_delivered_comes_once_the_records_are_in_the_journal_before_any_push(tmp_path):
    inlet = Counter()
    acknowledged_at_push = []

    class Watching(Sink):
        def push(self, records, update):
            acknowledged_at_push.append(list(inlet.acknowledged))
            super().push(records, update)

    link = Link(inlet, Watching(), 1, journal=str(tmp_path / "j.sqlite"))
    link.on_start()
    link.transfer()
    link.on_shutdown()
    assert acknowledged_at_push == [[0]]


def test_what_a_buffer_held_at_a_crash_is_replayed_before_the_first_transfer(tmp_path):
    path = str(tmp_path / "j.sqlite")
    first, sink = Counter(), Sink()
    link = Link(first, sink, 1, tags="x", processors=[Buffer(count_threshold=10)], journal=path)
    link.on_start()
    for _ in range(3):
        link.transfer()
    assert sink.numbers == [] and _rows(path) == 3
    _crash(link)

    second_inlet, second_sink = Counter(), Sink()
    second_inlet.next = 100
    again = Link(second_inlet, second_sink, 1, tags="x", processors=[Buffer(count_threshold=10)],
                 journal=path)
    again.on_start()
    again.transfer()
    assert second_sink.numbers == [0, 1, 2, 3, 4, 5]  # replayed first, released at once
    assert _rows(path) == 1  # the new pull, held by the Buffer
    again.flush()
    again.on_shutdown()
    assert second_sink.numbers == [0, 1, 2, 3, 4, 5, 100, 101]
    assert _rows(path) == 0


def test_a_journaled_retry_queue_is_restored_and_delivered_exactly_once(tmp_path):
    path = str(tmp_path / "j.sqlite")
    down = Sink(down=True)
    link = Link(Counter(), down, 1, tags="q", journal=path, retry=Retry(first_delay=0, jitter=0))
    link.on_start()
    link.transfer()
    link.transfer()
    link.flush()  # the final attempt fails too
    link.on_shutdown()  # stays in the journal
    assert _rows(path, "databay_queued") == 2 and _rows(path) == 0
    assert link.delivery_counts["lost"] == 0

    up = Sink()
    again = Link(Counter(), up, 1, tags="q", journal=path, retry=Retry(first_delay=0, jitter=0))
    again._inlets[0].next = 50
    again.on_start()
    again.transfer()
    assert up.numbers == [0, 1, 2, 3, 50, 51]
    again.on_shutdown()
    assert _rows(path, "databay_queued") == 0 and _rows(path) == 0


def test_without_a_journal_what_is_queued_at_shutdown_is_counted_and_logged_as_lost(caplog):
    sink = Sink(down=True)
    link = Link(Counter(3), sink, 1, retry=Retry(first_delay=0, jitter=0))
    link.on_start()
    link.transfer()
    link.transfer()
    link.flush()
    link.on_shutdown()
    assert link.delivery_counts["abandoned"] == 6 and link.delivery_counts["lost"] == 6
    assert any("6 record(s) in 2 batch(es)" in r.getMessage() and "lost at shutdown" in r.getMessage()
               for r in caplog.records)


def test_several_links_share_one_journal_file(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    sinks = [Sink(), Sink()]
    links = [Link(Counter(), sinks[0], 1, tags="a", processors=[Buffer(count_threshold=3)], journal=path),
             Link(Counter(), sinks[1], 1, key="b-key", journal=path)]
    for link in links:
        link.on_start()
    for link in links:
        link.transfer()
    assert sinks[0].numbers == [] and sinks[1].numbers == [0, 1]
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT link FROM databay_pulled").fetchall() == [("a",)]
    for link in links:
        link.flush()
        link.on_shutdown()
    assert sinks[0].numbers == [0, 1]
    assert _rows(path) == 0


def test_two_links_with_the_same_name_on_one_file_is_an_error(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    one = Link(Counter(), Sink(), 1, tags="same", journal=path)
    two = Link(Counter(), Sink(), 1, tags="same", journal=path)
    one.on_start()
    with pytest.raises(ValueError, match="distinct keys"):
        two.on_start()
    one.on_shutdown()


def test_records_that_cannot_be_pickled_are_reported_delivered_and_not_acknowledged(tmp_path):
    class Unpicklable(Counter):
        def pull(self, update):
            return [lambda: 1]

    inlet, sink = Unpicklable(), Sink()
    link = Link(inlet, sink, 1, journal=str(tmp_path / "j.sqlite"), ignore_exceptions=True)
    link.on_start()
    link.transfer()
    link.on_shutdown()
    assert len(sink.numbers) == 1
    assert inlet.acknowledged == []


@pytest.mark.parametrize("journal, error", [
    (5, TypeError), ("", ValueError), (":memory:", ValueError), ("a\0b", ValueError),
])
def test_bad_journal_paths_are_refused_at_construction(journal, error):
    with pytest.raises(error) as info:
        Link(Counter(), Sink(), 1, journal=journal)
    assert "journal=" in str(info.value)


def test_a_directory_is_not_a_journal(tmp_path):
    with pytest.raises(ValueError, match="directory"):
        Link(Counter(), Sink(), 1, journal=str(tmp_path))


def test_the_journal_directory_is_created(tmp_path):
    path = tmp_path / "state" / "deep" / "link.sqlite"
    link = Link(Counter(), Sink(), 1, journal=os.fspath(path))
    link.on_start()
    link.transfer()
    link.on_shutdown()
    assert path.exists()


def test_a_transfer_without_on_start_still_journals(tmp_path):
    path = tmp_path / "j.sqlite"
    sink = Sink()
    link = Link(Counter(), sink, 1, tags="hand", processors=[Buffer(count_threshold=10)], journal=str(path))
    link.transfer()  # no on_start: the journal opens on first use
    assert _rows(path) == 1 and sink.numbers == []
    link.flush()
    link.on_shutdown()
    assert sink.numbers == [0, 1] and _rows(path) == 0
