"""Two sources, one PostgreSQL table: a weather API and a local sensor, every 5 seconds.

Run it::

    python -m databay run examples.two_sources_to_postgres:planner          # until Ctrl-C
    python -m databay run examples.two_sources_to_postgres:planner --once   # one round, then exit

Needs ``pip install "databay[postgres]"`` (psycopg 3) and a PostgreSQL server.
Configure it with environment variables:

* ``DATABAY_POSTGRES_DSN``: the libpq connection string, e.g.
  ``postgresql://app:secret@127.0.0.1:5432/app`` or
  ``host=127.0.0.1 port=5432 user=app dbname=app`` (required).
* ``WEATHER_API_URL``: a JSON API answering a list of ``{"station", "celsius"}``
  readings. Unset: this example serves a stand-in on 127.0.0.1 (two stations).
* ``DATABAY_POSTGRES_TABLE``: the table (default ``example_readings``).

Both inlets feed one link; each row of table ``example_readings`` says which
source it came from (``source`` = ``api`` or ``sensor``), so one round adds 3
rows with the stand-in: 2 from the API and 1 from the sensor. The table and its
columns (``station`` text, ``celsius`` double precision, ``source`` text) are
created on first use.
"""

import logging
import os

from databay import Link
from databay.inlets import HttpInlet, RandomIntInlet
from databay.planners import SchedulePlanner

from ._local import serve_json

_LOGGER = logging.getLogger("examples.two_sources_to_postgres")


def stand_in_readings(call):
    """What the stand-in API answers: two stations whose temperature moves a little each call."""
    return [{"station": "Oslo", "celsius": 4.0 + call % 3}, {"station": "Lima", "celsius": 19.0 - call % 2}]


def as_row(records):
    """Link processor: every record becomes a row with its source; the sensor's number becomes a reading."""
    for record in records:
        source = record.metadata.get("source")
        if isinstance(record.payload, dict):
            record.payload = dict(record.payload, source=source)
        else:
            record.payload = {"station": "server-room", "celsius": float(record.payload), "source": source}
    return records


def planner():
    """Build the pipeline: HttpInlet + RandomIntInlet -> rows -> PostgresOutlet."""
    dsn = os.environ.get("DATABAY_POSTGRES_DSN")
    if not dsn:
        raise RuntimeError("set DATABAY_POSTGRES_DSN to a PostgreSQL connection string, "
                           "e.g. postgresql://app:secret@127.0.0.1:5432/app")
    from databay.outlets import PostgresOutlet

    table = os.environ.get("DATABAY_POSTGRES_TABLE") or "example_readings"
    url = os.environ.get("WEATHER_API_URL") or serve_json(stand_in_readings, "/readings")
    _LOGGER.info("Polling %s and a sensor into PostgreSQL table %s", url, table)
    link = Link([HttpInlet(url, timeout=10, metadata={"source": "api"}),
                 RandomIntInlet(min=18, max=27, metadata={"source": "sensor"})],
                PostgresOutlet(dsn, table),
                interval=5, tags="two-sources", processors=[as_row])
    return SchedulePlanner(link)
