"""``python -m databay demo``: a short, self-contained run of a real pipeline.

It serves a tiny JSON weather API on 127.0.0.1, polls it and a simulated
office thermometer every ``interval`` seconds, buffers the readings and fans
them out to the console, a CSV file and an SQLite table. After ``seconds`` it
shuts down gracefully and checks that every record this run produced reached
both files (counting rows before and after, so an ``--out`` directory can be
reused). Standard library only, like databay itself.
"""

from __future__ import annotations

import csv
import http.server
import json
import sqlite3
import sys
import tempfile
import threading
from pathlib import Path

from . import Inlet, Link, __version__
from .inlets import HttpInlet, RandomIntInlet
from .outlets import CsvOutlet, PrintOutlet, SqliteOutlet
from .planners import SchedulePlanner
from .support.buffers import Buffer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

    from .record import Record
    from .update import Update

CITIES = ("Oslo", "Lima")
RECORDS_PER_TRANSFER = len(CITIES) + 1  # the API's readings plus the thermometer's
BATCH = 2 * RECORDS_PER_TRANSFER  # the Buffer releases the records of two transfers at once


class _WeatherHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``/weather``: one reading per city, changing with every call."""

    calls = 0

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).calls += 1
        body = json.dumps([{"city": city, "celsius": round(10 + (self.calls * 7 + i * 3) % 15, 1)}
                           for i, city in enumerate(CITIES)]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's console for records."""


def _as_reading(records: List[Record]) -> List[Record]:
    """Link processor: the thermometer's bare number becomes a reading like the API's."""
    for record in records:
        if not isinstance(record.payload, dict):
            record.payload = {"city": "office", "celsius": record.payload}
    return records


class _Counter(Inlet):
    """Counts the records it produced, to check nothing was lost."""

    def __init__(self, inner: Inlet) -> None:
        super().__init__()
        self.inner = inner
        self.produced = 0

    def pull(self, update: Update) -> List[Record]:
        records = self.inner._to_records(self.inner.pull(update))  # the inner inlet's own records
        self.produced += len(records)
        return records


def _rows(csv_path: Path, db_path: Path) -> tuple:
    """Rows in the CSV file and the SQLite table now (0 for a file not written yet)."""
    csv_rows = db_rows = 0
    if csv_path.exists():
        with open(csv_path, newline="", encoding="utf-8") as handle:
            csv_rows = sum(1 for _ in csv.DictReader(handle))
    if db_path.exists():
        connection = sqlite3.connect(str(db_path))
        try:
            db_rows = connection.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
        except sqlite3.OperationalError:  # no table yet
            db_rows = 0
        finally:
            connection.close()
    return csv_rows, db_rows


def demo(seconds: float, interval: float, out: Optional[str], quiet: bool) -> int:
    """Run the demo pipeline for ``seconds`` and return a process exit code."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WeatherHandler)
    threading.Thread(target=server.serve_forever, name="demo-http", daemon=True).start()
    url = "http://127.0.0.1:%d/weather" % server.server_address[1]
    workdir = Path(out) if out else Path(tempfile.mkdtemp(prefix="databay-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    csv_path, db_path = workdir / "readings.csv", workdir / "readings.sqlite"
    csv_before, db_before = _rows(csv_path, db_path)

    inlets: List[Inlet] = [_Counter(HttpInlet(url)), _Counter(RandomIntInlet(min=18, max=24))]
    outlets = [CsvOutlet(str(csv_path)), SqliteOutlet(str(db_path), "readings")]
    if not quiet:
        outlets.append(PrintOutlet(only_payload=True))
    link = Link(inlets, outlets, interval, tags="demo",
                processors=[_as_reading, Buffer(count_threshold=BATCH - 1)])  # releases above it
    print("databay %s demo: polling %s and a thermometer every %.3g s for %.3g s; writing to %s"
          % (__version__, url, interval, seconds, workdir))
    planner = SchedulePlanner(link)
    timer = threading.Timer(seconds, planner.shutdown)
    timer.start()
    try:
        planner.start()  # blocks; the timer's shutdown() flushes the Buffer, then stops the nodes
    finally:
        timer.cancel()
        server.shutdown()
        server.server_close()

    produced = sum(inlet.produced for inlet in inlets if isinstance(inlet, _Counter))
    csv_after, db_after = _rows(csv_path, db_path)
    csv_rows, db_rows = csv_after - csv_before, db_after - db_before
    print("this run produced %d records; CSV got %d new rows (%d in all), SQLite got %d (%d in all)"
          % (produced, csv_rows, csv_after, db_rows, db_after))
    if produced == csv_rows == db_rows and produced > 0:
        print("OK: every record of this run reached both files")
        return 0
    print("MISMATCH: this run produced %d records but the files got %d and %d"
          % (produced, csv_rows, db_rows), file=sys.stderr)
    return 1
