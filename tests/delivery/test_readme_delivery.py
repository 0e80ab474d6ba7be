"""The README's delivery example runs as written: HTTP -> SQLite through a locked database,
then every reading arrives once and the journal ends empty."""

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
import threading
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _block():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return next(block for block in blocks if 'journal="state/journal.sqlite"' in block)


class _Readings(BaseHTTPRequestHandler):
    calls = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).calls += 1
        body = json.dumps([{"station": "Oslo", "n": type(self).calls},
                           {"station": "Lima", "n": type(self).calls}]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


DRIVER = textwrap.dedent('''
    import runpy, sqlite3, sys, threading, time
    from contextlib import closing
    namespace = runpy.run_path("example.py", run_name="readme_example")
    planner, link = namespace["planner"], namespace["link"]
    link._interval_seconds = 0.05  # the README polls every 10 s; the test cannot wait that long
    link.outlets[0].timeout = 0.05  # and gives up on a lock after 50 ms instead of 5 s
    link.retry.first_delay = link.retry.max_delay = 0.1
    link.retry.attempts = None  # the lock outlasts 10 quick attempts; keep every batch queued
    locker = sqlite3.connect("state/readings.sqlite", isolation_level=None)
    locker.execute("CREATE TABLE IF NOT EXISTS readings (station, n)")
    locker.execute("BEGIN EXCLUSIVE")  # the database is busy for a while
    thread = threading.Thread(target=planner.start)
    thread.start()
    time.sleep(1.5)
    queued = sum(len(q.entries) for q in link._delivery.live_queues())
    locker.execute("ROLLBACK")
    locker.close()
    time.sleep(1.0)
    planner.shutdown()
    thread.join(30)
    print("queued-while-locked", queued)
''')


def test_the_readme_delivery_example_survives_a_locked_database(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Readings)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        (tmp_path / "state").mkdir()
        (tmp_path / "example.py").write_text(_block(), encoding="utf-8")
        (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
        env = {"PYTHONPATH": str(ROOT), "READINGS_URL": "http://127.0.0.1:%d/readings" % server.server_port,
               "PATH": "/usr/bin:/bin"}
        result = subprocess.run([sys.executable, "driver.py"], cwd=tmp_path, env=env, capture_output=True,
                                text=True, timeout=90)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr[-3000:]
    queued = int(re.search(r"queued-while-locked (\d+)", result.stdout).group(1))
    assert queued >= 1  # the locked database really made batches wait
    calls = _Readings.calls
    with closing(sqlite3.connect(str(tmp_path / "state" / "readings.sqlite"))) as db:
        rows = db.execute("SELECT station, n FROM readings ORDER BY rowid").fetchall()
    assert rows == [(station, n) for n in range(1, calls + 1) for station in ("Oslo", "Lima")], (calls, result.stderr[-3000:])
    with closing(sqlite3.connect(str(tmp_path / "state" / "journal.sqlite"))) as db:
        assert db.execute("SELECT COUNT(*) FROM databay_pulled").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM databay_queued").fetchone()[0] == 0
    assert not (tmp_path / "state" / "dead-letters.jsonl").exists()
