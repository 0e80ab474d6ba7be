"""``python -m databay demo``: a short, self-contained run of a real pipeline.

It polls a tiny JSON API served on 127.0.0.1 and a random-number inlet every
200 ms, buffers records in batches, and fans them out to the console, a CSV
file and an SQLite database under a temporary (or given) directory. After a
few seconds it shuts down gracefully and proves that every record produced
reached both files. Standard library only, like databay itself.
"""

from __future__ import annotations

import argparse
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
from .misc.logs import enable_console_logging
from .outlets import CsvOutlet, PrintOutlet, SqliteOutlet
from .planners import SchedulePlanner
from .support.buffers import Buffer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional

    from .record import Record
    from .update import Update


class _WeatherHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``/weather`` as a JSON list of two readings that change every call."""

    calls = 0

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).calls += 1
        body = json.dumps([{"city": city, "celsius": round(10 + (self.calls * 7 + i * 3) % 15, 1)}
                           for i, city in enumerate(("Oslo", "Lima"))]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's console for records."""


def _as_reading(records: List[Record]) -> List[Record]:
    """Link processor: turn a bare number into a reading dict, in place, so CSV/SQLite can store it."""
    for record in records:
        if not isinstance(record.payload, dict):
            record.payload = {"city": "dice", "celsius": record.payload}
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


def demo(seconds: float, interval: float, out: Optional[str], quiet: bool) -> int:
    """Run the demo pipeline for ``seconds`` and return a process exit code."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WeatherHandler)
    threading.Thread(target=server.serve_forever, name="demo-http", daemon=True).start()
    url = "http://127.0.0.1:%d/weather" % server.server_address[1]
    workdir = Path(out) if out else Path(tempfile.mkdtemp(prefix="databay-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    csv_path, db_path = workdir / "readings.csv", workdir / "readings.sqlite"

    inlets: List[Inlet] = [_Counter(HttpInlet(url, metadata={"source": "http"})),
              _Counter(RandomIntInlet(min=-5, max=35, metadata={"source": "dice"}))]
    outlets = [CsvOutlet(str(csv_path)), SqliteOutlet(str(db_path), "readings")]
    if not quiet:
        outlets.append(PrintOutlet(only_payload=True))
    link = Link(inlets, outlets, interval, tags="demo",
                processors=[_as_reading, Buffer(count_threshold=4)])
    print("databay %s demo: %s every %.3g s -> %s for %.3g s" % (
        __version__, url, interval, workdir, seconds))
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
    with open(csv_path, newline="", encoding="utf-8") as handle:
        csv_rows = sum(1 for _ in csv.DictReader(handle))
    with sqlite3.connect(str(db_path)) as connection:
        db_rows = connection.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    connection.close()
    print("produced %d records; CSV holds %d rows, SQLite holds %d rows" % (produced, csv_rows, db_rows))
    if produced == csv_rows == db_rows and produced > 0:
        print("OK: every record reached both files")
        return 0
    print("MISMATCH: records were lost", file=sys.stderr)
    return 1


def main(argv: Optional[List[str]] = None) -> int:
    """Command line entry point: ``python -m databay demo [--seconds S] ...``."""
    parser = argparse.ArgumentParser(prog="python -m databay", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="run a small HTTP -> CSV + SQLite pipeline")
    run.add_argument("--seconds", type=float, default=3.0, help="how long to run (default 3)")
    run.add_argument("--interval", type=float, default=0.2, help="seconds between transfers")
    run.add_argument("--out", help="directory for readings.csv and readings.sqlite (default: a temp dir)")
    run.add_argument("--quiet", action="store_true", help="do not print every record")
    run.add_argument("--log", action="store_true", help="show databay's INFO logs on stderr")
    args = parser.parse_args(argv)
    if args.log:
        enable_console_logging()
    return demo(args.seconds, args.interval, args.out, args.quiet)


if __name__ == "__main__":
    sys.exit(main())
