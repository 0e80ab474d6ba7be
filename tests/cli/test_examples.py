"""Each example pipeline runs with ``--once`` in a subprocess and produces the rows it promises."""

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time

import pytest

from .conftest import ROOT


def _run_example(spec, workdir, *args, python=(sys.executable,), cwd=ROOT, env=None):
    env = dict(os.environ if env is None else env, DATABAY_EXAMPLES_DIR=str(workdir))
    env.pop("WEATHER_API_URL", None)
    env.pop("ACCESS_LOG", None)
    return subprocess.run([*python, "-m", "databay", "run", spec, "--once", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _sqlite_rows(path):
    connection = sqlite3.connect(str(path))
    try:
        return connection.execute("SELECT station, celsius, fetched_at FROM readings").fetchall()
    finally:
        connection.close()


def _check_http_to_sqlite(workdir, runs=1):
    rows = _sqlite_rows(workdir / "weather.sqlite")
    assert len(rows) == 3 * runs
    assert sorted({station for station, _, _ in rows}) == ["Lima", "Nairobi", "Oslo"]
    assert all(isinstance(celsius, float) and fetched_at for _, celsius, fetched_at in rows)
    dead = [json.loads(line) for line in
            (workdir / "weather-dead-letters.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(dead) == runs
    assert {key: dead[0]["payload"][key] for key in ("station", "celsius")} == \
        {"station": "Bergen", "celsius": "sensor offline"}
    assert (dead[0]["reason"], dead[0]["detail"]) == ("rejected", "celsius is not a number")


def test_http_to_sqlite_stores_three_readings_and_dead_letters_the_broken_one(tmp_path):
    """One poll of the stand-in API: 3 rows in readings, 1 dead letter with its reason; twice: 6 and 2."""
    result = _run_example("examples.http_to_sqlite:planner", tmp_path)
    assert result.returncode == 0, result.stderr
    _check_http_to_sqlite(tmp_path)
    result = _run_example("examples.http_to_sqlite:planner", tmp_path)
    assert result.returncode == 0, result.stderr
    _check_http_to_sqlite(tmp_path, runs=2)


def test_http_to_sqlite_retries_while_the_database_is_locked(tmp_path):
    """The first push fails (another writer holds the database): the batch is retried and stored."""
    database = tmp_path / "weather.sqlite"
    blocker = sqlite3.connect(str(database), isolation_level=None)
    blocker.execute("CREATE TABLE readings (station, celsius, fetched_at)")
    blocker.execute("BEGIN EXCLUSIVE")
    env = dict(os.environ, DATABAY_EXAMPLES_DIR=str(tmp_path))
    env.pop("WEATHER_API_URL", None)
    command = [sys.executable, "-m", "databay", "run", "examples.http_to_sqlite:planner", "--for", "8"]
    seen = []
    with subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True) as process:
        try:
            for line in process.stderr:  # the failed push is reported as waiting for a retry
                seen.append(line)
                if "retry" in line.lower():
                    break
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        seen.extend(process.stderr)
        assert process.wait(timeout=60) == 0, "".join(seen)
    assert "database is locked" in "".join(seen)
    _check_http_to_sqlite(tmp_path)


def test_http_to_sqlite_from_a_fresh_copy_needs_nothing_but_python(tmp_path):
    """Only databay/ and examples/ next to each other, site-packages off (-S): the example still runs."""
    clone = tmp_path / "clone"
    for folder in ("databay", "examples"):
        shutil.copytree(ROOT / folder, clone / folder, ignore=shutil.ignore_patterns("__pycache__"))
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    check = subprocess.run([sys.executable, "-S", "-c", "import sqlite3, sys; print(sys.path)"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert "site-packages" not in check.stdout  # the probe: -S really hides installed packages
    out = tmp_path / "out"
    result = _run_example("examples.http_to_sqlite:planner", out, python=(sys.executable, "-S"), cwd=clone,
                          env=env)
    assert result.returncode == 0, result.stderr
    _check_http_to_sqlite(out)


def test_tail_to_csv_writes_every_line_of_the_sample_log(tmp_path):
    """The sample log's 20 requests become 20 CSV rows, released from the Buffer at shutdown."""
    result = _run_example("examples.tail_to_csv:planner", tmp_path)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "requests.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 20
    assert list(rows[0]) == ["client", "time", "method", "path", "status", "bytes"]
    assert rows[0] == {"client": "10.0.0.1", "time": "30/Nov/2026:04:00:00 +0000", "method": "GET",
                       "path": "/", "status": "200", "bytes": "100"}
    assert sum(row["status"] == "404" for row in rows) == 4


def test_tail_to_csv_follows_lines_added_later_and_skips_garbage(tmp_path):
    """ACCESS_LOG: complete lines only, garbage logged and skipped, and a restart resumes where it stopped."""
    log = tmp_path / "mine.log"
    log.write_text('1.2.3.4 - - [30/Nov/2026:05:00:00 +0000] "GET /a HTTP/1.1" 200 5\n'
                   "not a log line\n"
                   '1.2.3.4 - - [30/Nov/2026:05:00:01 +0000] "GET /b HTTP/1.1" 500 -\n'
                   '1.2.3.4 - - [30/Nov/2026:05:00:02 +0000] "GET /half', encoding="utf-8")
    env = dict(os.environ, ACCESS_LOG=str(log), DATABAY_EXAMPLES_DIR=str(tmp_path))
    command = [sys.executable, "-m", "databay", "run", "examples.tail_to_csv:planner", "--once"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Skipped a line that is not in common log format: 'not a log line'" in result.stderr
    with open(tmp_path / "requests.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["path"], row["status"], row["bytes"]) for row in rows] == [("/a", "200", "5"),
                                                                            ("/b", "500", "0")]
    with open(log, "a", encoding="utf-8") as more:  # the half line gets its end, one more line follows
        more.write(' HTTP/1.1" 200 7\n1.2.3.4 - - [30/Nov/2026:05:00:03 +0000] "GET /d HTTP/1.1" 201 9\n')
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "requests.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # the restart resumed after the last delivered line: nothing twice, the completed half line once
    assert [row["path"] for row in rows] == ["/a", "/b", "/half", "/d"]


def _postgres_dsn():
    """The test server of scripts/setup.d/postgres.sh: DATABAY_TEST_POSTGRES_DSN, from env or its file."""
    dsn = os.environ.get("DATABAY_TEST_POSTGRES_DSN")
    settings = ROOT / ".databay-test-postgres"
    if not dsn and settings.exists():
        for line in settings.read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition("=")
            if name.strip() == "DATABAY_TEST_POSTGRES_DSN":
                dsn = value.strip()
    if not dsn:
        pytest.skip("no PostgreSQL test server: scripts/setup.d/postgres.sh (run by scripts/test as root) "
                    "starts one and writes .databay-test-postgres")
    return dsn


def test_two_sources_to_postgres_stores_rows_from_both_sources(tmp_path):
    """One round: 2 rows from the API and 1 from the sensor in the table."""
    psycopg = pytest.importorskip("psycopg", reason="psycopg 3 (databay[postgres]) is not installed")
    dsn = _postgres_dsn()
    try:
        connection = psycopg.connect(dsn, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as error:
        pytest.skip("the PostgreSQL test server at %r is not reachable: %s" % (dsn, error))
    table = "example_readings_%d_%d" % (os.getpid(), time.monotonic_ns())  # the server is shared
    env = dict(os.environ, DATABAY_POSTGRES_DSN=dsn, DATABAY_POSTGRES_TABLE=table)
    try:
        result = _run_example("examples.two_sources_to_postgres:planner", tmp_path, env=env)
        assert result.returncode == 0, result.stderr
        rows = connection.execute('SELECT source, station, celsius FROM "%s" ORDER BY source, station'
                                  % table).fetchall()
    finally:
        connection.execute('DROP TABLE IF EXISTS "%s"' % table)
        connection.close()
    assert [(source, station) for source, station, _ in rows] == [("api", "Lima"), ("api", "Oslo"),
                                                                   ("sensor", "server-room")]
    assert 18 <= rows[2][2] <= 27


def test_two_sources_to_postgres_without_a_dsn_says_what_to_set(tmp_path):
    """Without DATABAY_POSTGRES_DSN the example fails to build with a message naming the variable (exit 2)."""
    env = {key: value for key, value in os.environ.items() if key != "DATABAY_POSTGRES_DSN"}
    result = _run_example("examples.two_sources_to_postgres:planner", tmp_path, env=env)
    assert result.returncode == 2
    assert "set DATABAY_POSTGRES_DSN to a PostgreSQL connection string" in result.stderr
