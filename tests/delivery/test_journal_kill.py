"""The journal under SIGKILL: a planner with Buffers, a retry queue and real SQLite and file
outlets is killed at random moments, restarted each time, and loses nothing.

The worker's inlets are cursor-based: they commit their cursor in ``on_delivered``
(called once the pulled records are in the journal) and resume from it after a
restart, so every record any pull returned is either in the journal or pulled
again. At the end every number below the final cursor must be in both outlets
at least once; duplicates are allowed only for pushes in flight at a kill.
"""

import os
from contextlib import closing
import random
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

WORKER = textwrap.dedent('''
    import os, random, sys, threading, time
    from databay import Inlet, Link, Retry
    from databay.outlets import FileOutlet
    from databay.outlets.sqlite_outlet import SqliteOutlet
    from databay.planners import SchedulePlanner
    from databay.support.buffers import Buffer

    state, limit, flaky = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "flaky"

    class CursorInlet(Inlet):
        """Numbers from a cursor file; the cursor moves on only when the journal has them."""

        def __init__(self, name):
            super().__init__()
            self.path = os.path.join(state, name + ".cursor")
            try:
                with open(self.path) as file:
                    self.committed = int(file.read())
            except FileNotFoundError:
                self.committed = 0
            self.next = self.committed
            self.pending = {}

        def pull(self, update):
            end = min(self.next + 7, limit)
            numbers = list(range(self.next, end))
            self.next = end
            self.pending[update.transfer_number] = end
            return [{"n": n} for n in numbers]

        def on_delivered(self, update):
            self.committed = self.pending.pop(update.transfer_number)
            with open(self.path + ".tmp", "w") as file:
                file.write(str(self.committed))
            os.replace(self.path + ".tmp", self.path)

    class FlakyFileOutlet(FileOutlet):
        """A real FileOutlet that refuses one push in eight (before writing anything)."""

        def push(self, records, update):
            if flaky and random.random() < 0.125:
                raise OSError("flaky disk")
            super().push(records, update)

    def as_line(records):
        for record in records:
            record.payload = "n=%d;" % record.payload["n"]
        return records

    journal = os.path.join(state, "journal.sqlite")
    database = os.path.join(state, "sink.sqlite")
    a, b = CursorInlet("a"), CursorInlet("b")
    link_a = Link(a, [SqliteOutlet(database, table="a"),
                      FlakyFileOutlet(os.path.join(state, "a.txt"), processors=[as_line])], 0.01,
                  tags="a", processors=[Buffer(count_threshold=30)], journal=journal,
                  retry=Retry(first_delay=0.02, max_delay=0.1))
    link_b = Link(b, SqliteOutlet(database, table="b", processors=[Buffer(count_threshold=20)]), 0.013,
                  tags="b", journal=journal, retry=Retry(first_delay=0.02, max_delay=0.1))
    planner = SchedulePlanner([link_a, link_b], immediate_transfer=True)

    def finish_when_done():
        while a.committed < limit or b.committed < limit:
            time.sleep(0.01)
        planner.shutdown(wait=False)

    threading.Thread(target=finish_when_done, daemon=True).start()
    print("started", flush=True)
    planner.start()
    print("clean", a.committed, b.committed, flush=True)
''')

KILLS = 22


def _numbers_in_file(path):
    if not path.exists():
        return []
    return [int(n) for n in re.findall(r"n=(\d+);", path.read_text(encoding="utf-8", errors="replace"))]


def _numbers_in_table(database, table):
    with closing(sqlite3.connect(str(database))) as db:
        try:
            return [row[0] for row in db.execute('SELECT n FROM "%s"' % table)]
        except sqlite3.OperationalError:
            return []


def _cursor(state, name):
    try:
        return int((state / (name + ".cursor")).read_text())
    except FileNotFoundError:
        return 0


@pytest.mark.timeout(180)
def test_sigkill_at_random_moments_loses_nothing(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    rng = random.Random(12)
    began = time.monotonic()
    for _ in range(KILLS):
        worker = subprocess.Popen([sys.executable, str(script), str(state), str(10**9), "flaky"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.4))  # a random moment: start-up, replay, transfers, pushes
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
        assert worker.returncode == -signal.SIGKILL
    kill_phase = time.monotonic() - began
    assert _cursor(state, "a") > 0 and _cursor(state, "b") > 0, "the workers never got going"

    # a last run pulls up to a fixed limit and shuts down cleanly; its file outlet is steady,
    # so the final delivery attempt of the retry queue at shutdown succeeds
    limit = max(_cursor(state, "a"), _cursor(state, "b")) + 50
    finished = subprocess.run([sys.executable, str(script), str(state), str(limit), "steady"], env=env,
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "clean" in finished.stdout

    expected = list(range(limit))
    for name, delivered in (("a/sqlite", _numbers_in_table(state / "sink.sqlite", "a")),
                            ("a/file", _numbers_in_file(state / "a.txt")),
                            ("b/sqlite", _numbers_in_table(state / "sink.sqlite", "b"))):
        missing = sorted(set(expected) - set(delivered))
        assert missing == [], (name, missing[:20], len(missing))
        assert set(delivered) == set(expected), name
        duplicates = len(delivered) - len(set(delivered))
        # only pushes in flight at a kill repeat: at most one batch (a released Buffer, up
        # to ~40 records, or a retried batch) per outlet per kill
        assert duplicates <= KILLS * 40, (name, duplicates)
    with closing(sqlite3.connect(str(state / "journal.sqlite"))) as db:
        assert db.execute("SELECT COUNT(*) FROM databay_pulled").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM databay_queued").fetchone()[0] == 0
    print("kill phase %.1f s, %d records per link" % (kill_phase, limit))
