"""Runnable example pipelines: ``python -m databay run examples.NAME:planner [--once]``.

* ``http_to_sqlite``: poll a JSON API into an SQLite table; bad readings go to dead letters.
* ``tail_to_csv``: follow a growing log file into a CSV file, in batches through a Buffer.
* ``two_sources_to_postgres``: an HTTP API and a local sensor into one PostgreSQL table.

Each one runs against local stand-ins when nothing is configured (it serves its
own tiny HTTP API on 127.0.0.1 and writes its own log file), so it works from a
fresh clone. Files go to ``$DATABAY_EXAMPLES_DIR`` (default: ``databay-examples``
in the system's temporary directory); each example logs where.
"""
