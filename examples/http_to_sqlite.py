"""Poll a JSON weather API every 10 seconds into an SQLite table, with retry and dead letters.

Run it::

    python -m databay run examples.http_to_sqlite:planner          # until Ctrl-C
    python -m databay run examples.http_to_sqlite:planner --once   # one poll, then exit

Configure it with environment variables:

* ``WEATHER_API_URL``: an API answering GET with a JSON list of readings such as
  ``{"station": "Oslo", "celsius": 4.5}``. Unset: this example serves a stand-in
  on 127.0.0.1 whose every answer holds three good readings and one broken one.
* ``DATABAY_EXAMPLES_DIR``: where ``weather.sqlite`` (table ``readings``) and
  ``weather-dead-letters.jsonl`` go.

What can go wrong, and what happens then:

* **The database is busy or down** (locked by another writer, disk full): the
  push fails, the batch waits in the outlet's retry queue and is tried again
  with backoff (1 s, 2 s, 4 s ... at most 60 s) at the next polls; the link
  keeps polling meanwhile and later batches queue behind it, in order. At
  shutdown (Ctrl-C, SIGTERM, the end of ``--once``) the queue is tried once
  more, whatever the backoff says.
* **A reading can never be stored** (its ``celsius`` is not a number): the
  outlet rejects just that record (``RejectedRecords``), the others of the batch
  are stored, and the rejected one goes to the dead-letter file with the reason.
* Whatever runs out of attempts or overflows the queue goes there too: nothing
  is dropped silently.

One poll of the stand-in adds 3 rows to ``readings`` and 1 line to the dead
letters.
"""

import json
import logging
import os
from datetime import datetime, timezone

from databay import Link, RejectedRecords, Retry
from databay.inlets import HttpInlet
from databay.outlets import FileOutlet, SqliteOutlet
from databay.planners import SchedulePlanner

from ._local import output_dir, serve_json

_LOGGER = logging.getLogger("examples.http_to_sqlite")


def stand_in_readings(call):
    """What the stand-in API answers: three stations, and one sensor that reports garbage."""
    stations = [("Oslo", 4.5), ("Lima", 19.0), ("Nairobi", 23.5)]
    readings = [{"station": name, "celsius": round(base + (call % 5) * 0.5, 1)} for name, base in stations]
    readings.append({"station": "Bergen", "celsius": "sensor offline"})
    return readings


def stamp(records):
    """Link processor: add the time the reading was fetched (UTC, ISO 8601)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for record in records:
        record.payload["fetched_at"] = now
    return records


class ReadingsTable(SqliteOutlet):
    """Stores readings; rejects (for the dead letter) those whose ``celsius`` is not a number."""

    def push(self, records, update):
        bad = [record for record in records if not _is_number(record.payload.get("celsius"))]
        good = [record for record in records if not any(record is other for other in bad)]
        if good:
            super().push(good, update)  # a failure here sends the whole batch to the retry queue
        if bad:
            raise RejectedRecords(bad, "celsius is not a number")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def as_json_line(records):
    """Dead-letter processor: one JSON object per line, the payload with why it was given up."""
    for record in records:
        why = record.metadata.get("__dead_letter__", {})
        record.payload = json.dumps({"payload": record.payload, "reason": why.get("reason"),
                                     "detail": why.get("detail")}, default=str)
    return records


def planner():
    """Build the pipeline: HttpInlet -> timestamps -> ReadingsTable, retried, with dead letters."""
    url = os.environ.get("WEATHER_API_URL") or serve_json(stand_in_readings, "/readings")
    folder = output_dir()
    database = os.path.join(folder, "weather.sqlite")
    dead_letters = os.path.join(folder, "weather-dead-letters.jsonl")
    _LOGGER.info("Polling %s into %s (table readings); dead letters in %s", url, database, dead_letters)
    link = Link(HttpInlet(url, timeout=10),
                ReadingsTable(database, "readings", timeout=1),
                interval=10, tags="weather", processors=[stamp],
                retry=Retry(first_delay=1, max_delay=60),
                dead_letter=FileOutlet(dead_letters, processors=[as_json_line]))
    return SchedulePlanner(link)
