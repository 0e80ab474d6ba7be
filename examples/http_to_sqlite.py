"""Poll a JSON weather API every 10 seconds into an SQLite table; bad readings become dead letters.

Run it::

    python -m databay run examples.http_to_sqlite:planner          # until Ctrl-C
    python -m databay run examples.http_to_sqlite:planner --once   # one poll, then exit

Configure it with environment variables:

* ``WEATHER_API_URL``: an API answering GET with a JSON list of readings such as
  ``{"station": "Oslo", "celsius": 4.5}``. Unset: this example serves a stand-in
  on 127.0.0.1 whose every answer holds three good readings and one broken one.
* ``DATABAY_EXAMPLES_DIR``: where ``weather.sqlite`` (table ``readings``) and
  ``weather-dead-letters.jsonl`` go.

One poll of the stand-in adds 3 rows to ``readings`` and 1 line to the dead
letters. A reading without a numeric ``celsius`` is never stored: it goes to the
dead-letter file with the reason, so nothing is silently dropped.
"""

import json
import logging
import os
from datetime import datetime, timezone

from databay import Link
from databay.inlets import HttpInlet
from databay.outlets import SqliteOutlet
from databay.planners import SchedulePlanner

from ._local import output_dir, serve_json

_LOGGER = logging.getLogger("examples.http_to_sqlite")


def stand_in_readings(call):
    """What the stand-in API answers: three stations, and one sensor that reports garbage."""
    stations = [("Oslo", 4.5), ("Lima", 19.0), ("Nairobi", 23.5)]
    readings = [{"station": name, "celsius": round(base + (call % 5) * 0.5, 1)} for name, base in stations]
    readings.append({"station": "Bergen", "celsius": "sensor offline"})
    return readings


class DeadLetters:
    """Link processor: passes good readings on, appends the others (with the reason) to a JSON-lines file."""

    def __init__(self, path):
        self.path = path

    def __call__(self, records):
        good, bad = [], []
        for record in records:
            celsius = record.payload.get("celsius") if isinstance(record.payload, dict) else None
            if isinstance(celsius, (int, float)) and not isinstance(celsius, bool):
                good.append(record)
            else:
                bad.append(record)
        if bad:
            with open(self.path, "a", encoding="utf-8") as dead:
                for record in bad:
                    dead.write(json.dumps({"payload": record.payload, "reason": "celsius is not a number"},
                                          default=str) + "\n")
            _LOGGER.warning("%d reading(s) without a numeric celsius went to %s", len(bad), self.path)
        return good


def stamp(records):
    """Link processor: add the time the reading was fetched (UTC, ISO 8601)."""
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for record in records:
        record.payload["fetched_at"] = now
    return records


def planner():
    """Build the pipeline: HttpInlet -> dead letters, timestamps -> SqliteOutlet."""
    url = os.environ.get("WEATHER_API_URL") or serve_json(stand_in_readings, "/readings")
    folder = output_dir()
    database = os.path.join(folder, "weather.sqlite")
    _LOGGER.info("Polling %s into %s (table readings)", url, database)
    link = Link(HttpInlet(url, timeout=10),
                SqliteOutlet(database, "readings"),
                interval=10, tags="weather",
                processors=[DeadLetters(os.path.join(folder, "weather-dead-letters.jsonl")), stamp])
    return SchedulePlanner(link)
