"""PostgresOutlet against a real PostgreSQL server (started by scripts/setup.d/postgres.sh).

Tests that need the server skip with the reason when none is reachable; the restart test
runs a private server of its own (it needs root and the server binaries)."""

import math
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid

import pytest

from databay import Record
from databay.outlets import PostgresOutlet

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _settings():
    """DATABAY_TEST_POSTGRES_* from the environment, else from .databay-test-postgres."""
    found = {}
    path = ROOT / ".databay-test-postgres"
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            name, _, value = line.partition("=")
            found[name.strip()] = value.strip()
    found.update({k: v for k, v in os.environ.items() if k.startswith("DATABAY_TEST_POSTGRES_")})
    return found


@pytest.fixture(scope="module")
def psycopg():
    try:
        import psycopg
    except ImportError:
        pytest.skip("psycopg 3 is not installed: scripts/test installs databay[postgres] "
                    "(scripts/setup.d/postgres.sh)")
    return psycopg


@pytest.fixture(scope="module")
def dsn(psycopg):
    """The test server's connection string; skips with the reason when it is unreachable."""
    value = _settings().get("DATABAY_TEST_POSTGRES_DSN")
    if not value:
        pytest.skip("no PostgreSQL test server: scripts/setup.d/postgres.sh (run by scripts/test "
                    "as root) starts one and writes .databay-test-postgres")
    try:
        psycopg.connect(value, connect_timeout=5).close()
    except psycopg.Error as error:
        pytest.skip("the PostgreSQL test server at %r is not reachable: %s" % (value, error))
    return value


@pytest.fixture
def table(dsn, psycopg):
    """A fresh table name; the table is dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    yield name
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute('DROP TABLE IF EXISTS "%s"' % name)


def _select(dsn, psycopg, sql):
    with psycopg.connect(dsn) as connection:
        return connection.execute(sql).fetchall()


def _started(dsn, table_name, **kwargs):
    outlet = PostgresOutlet(dsn, table_name, **kwargs)
    outlet.try_start()
    return outlet


def test_types_round_trip(dsn, psycopg, table, update):
    """int, float, text, bool, None, nested dict/list and large ints come back as they went."""
    payloads = [
        {"i": 1, "f": 1.5, "s": "café", "b": True, "n": None, "j": {"a": [1, {"b": None}]},
         "l": [1, "two", [3.0]], "big": 2 ** 70, "i64": -(2 ** 63)},
        {"i": -(2 ** 40), "f": float("inf"), "s": "", "b": False, "n": None, "j": {},
         "l": [], "big": -(2 ** 80), "i64": 2 ** 63 - 1},
        {"i": 0, "f": math.nan, "s": "x" * 10_000, "b": None, "n": None, "j": None, "l": None,
         "big": None, "i64": None},
    ]
    outlet = _started(dsn, table)
    try:
        outlet.push([Record(dict(p)) for p in payloads], update)
    finally:
        outlet.try_shutdown()
    rows = _select(dsn, psycopg, 'SELECT i, f, s, b, n, j, l, big, i64 FROM "%s" ORDER BY i DESC'
                   % table)
    expected = sorted(payloads, key=lambda p: -p["i"])
    for row, payload in zip(rows, expected):
        for value, key in zip(row, ("i", "f", "s", "b", "n", "j", "l", "big", "i64")):
            want = payload[key]
            if isinstance(want, float) and math.isnan(want):
                assert math.isnan(value)
            else:
                assert value == want, (key, value, want)
            if type(want) in (int, bool, str, float, dict, list) and key != "big":
                assert type(value) is type(want), (key, type(value))
    types = dict(_select(dsn, psycopg, "SELECT column_name, data_type FROM "
                         "information_schema.columns WHERE table_name = '%s'" % table))
    assert types == {"i": "bigint", "f": "double precision", "s": "text", "b": "boolean",
                     "n": "text", "j": "jsonb", "l": "jsonb", "big": "numeric", "i64": "bigint"}


def test_new_columns_and_tables_are_created_on_demand(dsn, psycopg, table, update):
    """A key the table lacks becomes a new column; TABLE metadata picks another table."""
    other = table + "_b"
    outlet = _started(dsn, table)
    try:
        outlet.push([Record({"a": 1})], update)
        outlet.push([Record({"a": 2, "c": "new"}), Record({"x": 1}, {PostgresOutlet.TABLE: other})],
                    update)
        assert _select(dsn, psycopg, 'SELECT a, c FROM "%s" ORDER BY a' % table) == \
            [(1, None), (2, "new")]
        assert _select(dsn, psycopg, 'SELECT x FROM "%s"' % other) == [(1,)]
    finally:
        outlet.try_shutdown()
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute('DROP TABLE IF EXISTS "%s"' % other)


def test_one_transaction_per_push(dsn, psycopg, table, update):
    """A push whose third row the server refuses (text into bigint) writes nothing, also not
    the column it would have added; the next good push works."""
    outlet = _started(dsn, table)
    try:
        outlet.push([Record({"n": 1})], update)
        bad = [Record({"n": 2, "extra": "x"}), Record({"n": 3}), Record({"n": "three"})]
        with pytest.raises(psycopg.Error):
            outlet.push(bad, update)
        outlet.push([Record({"n": 4})], update)
    finally:
        outlet.try_shutdown()
    assert _select(dsn, psycopg, 'SELECT n FROM "%s" ORDER BY n' % table) == [(1,), (4,)]
    columns = _select(dsn, psycopg, "SELECT column_name FROM information_schema.columns "
                      "WHERE table_name = '%s'" % table)
    assert columns == [("n",)]


class _Sneaky(str):
    def __str__(self):
        return 'x"; DROP TABLE victim; --'


@pytest.mark.parametrize("payload, table_name, words", [
    ({"a; DROP TABLE x": 1}, None, "not an accepted column name"),
    ({"pg_catalog": 1}, None, "not an accepted column name"),
    ({"a": 1}, "x; DROP TABLE y", "not an accepted SQL name"),
    ({_Sneaky("a"): 1}, None, None),
    ({"a": 1}, _Sneaky("t_sneaky"), None),
])
def test_names_are_checked_before_the_server_is_touched(dsn, psycopg, table, update, payload,
                                                        table_name, words):
    """Unsafe table or column names raise ValueError before any SQL; str subclasses are used by
    their own text, never by their __str__."""
    outlet = _started(dsn, table)
    metadata = {} if table_name is None else {PostgresOutlet.TABLE: table_name}
    try:
        if words is None:
            outlet.push([Record(payload, metadata)], update)
        else:
            with pytest.raises(ValueError, match=words):
                outlet.push([Record(payload, metadata)], update)
    finally:
        outlet.try_shutdown()
    if table_name is not None and words is None:
        assert _select(dsn, psycopg, 'SELECT a FROM "t_sneaky"') == [(1,)]
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute('DROP TABLE "t_sneaky"')


def test_reconnects_after_the_connection_is_killed(dsn, psycopg, table, update):
    """The server ends the outlet's connection (as a restart does): the next push reconnects
    and every row is there exactly once."""
    outlet = _started(dsn + " application_name=" + table, table)
    try:
        outlet.push([Record({"n": 1})], update)
        with psycopg.connect(dsn, autocommit=True) as admin:
            killed = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE application_name = %s", (table,))
            assert killed.fetchall() == [(True,)]
        outlet.push([Record({"n": 2})], update)
    finally:
        outlet.try_shutdown()
    assert _select(dsn, psycopg, 'SELECT n FROM "%s" ORDER BY n' % table) == [(1,), (2,)]


def test_connection_is_opened_in_on_start(psycopg):
    """on_start opens the connection, so an unreachable server fails the start, naming the
    server (password redacted)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outlet = PostgresOutlet("host=127.0.0.1 port=%d user=u password=hunter2 connect_timeout=2"
                            % port, "t", connect_timeout=2)
    with pytest.raises(psycopg.OperationalError) as info:
        outlet.on_start()
    assert "port=%d" % port in str(info.value) and "hunter2" not in str(info.value)


def test_repr_hides_the_password():
    """repr shows the connection string without its password, in both forms."""
    pytest.importorskip("psycopg")
    assert "hunter2" not in repr(PostgresOutlet("host=h password=hunter2 dbname=d", "t"))
    assert "hunter2" not in repr(PostgresOutlet("postgresql://u:hunter2@h/d", "t"))
    assert "dbname=d" in repr(PostgresOutlet("host=h password='hunter2' dbname=d", "t"))


@pytest.mark.parametrize("args, kwargs, error, name", [
    ((3, "t"), {}, TypeError, "conninfo"),
    (("host=h = =", "t"), {}, ValueError, "conninfo"),
    (("host=h", "bad name"), {}, ValueError, "table"),
    (("host=h", None), {}, TypeError, "table"),
    (("host=h", "t"), {"connect_timeout": True}, TypeError, "connect_timeout"),
    (("host=h", "t"), {"connect_timeout": 0}, ValueError, "connect_timeout"),
    (("host=h", "t"), {"processors": 3}, TypeError, "processors"),
])
def test_bad_arguments_name_the_parameter(args, kwargs, error, name):
    """Each bad argument raises at construction naming the parameter."""
    pytest.importorskip("psycopg")
    with pytest.raises(error, match="^%s=" % name):
        PostgresOutlet(*args, **kwargs)


def test_importing_the_outlets_does_not_import_psycopg():
    """psycopg is imported only when a PostgresOutlet is constructed."""
    code = "import sys, databay.outlets; print('psycopg' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=str(ROOT))
    assert result.stdout.strip() == "False", result.stderr


# ---------------------------------------------------------------- a real server restart

@pytest.fixture
def private_server(psycopg):
    """A PostgreSQL server of this test's own (initdb in /var/tmp): yields (dsn, pg_ctl)
    where pg_ctl(*args) runs pg_ctl on it. Needs root and the server binaries."""
    binaries = _settings().get("DATABAY_TEST_POSTGRES_BIN", "")
    if os.geteuid() != 0 or not os.path.exists(os.path.join(binaries, "initdb")):
        pytest.skip("a private PostgreSQL server needs root and the binaries named in "
                    ".databay-test-postgres (scripts/setup.d/postgres.sh)")
    import pwd

    try:
        postgres = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("no 'postgres' user to run a private PostgreSQL server as")
    if shutil.which("runuser") is None:
        pytest.skip("runuser is needed to run a private PostgreSQL server as 'postgres'")
    home = tempfile.mkdtemp(prefix="databay-pg-", dir="/var/tmp")
    os.chown(home, postgres.pw_uid, postgres.pw_gid)
    data = os.path.join(home, "data")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    def run(*args):
        return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True,
                              text=True, timeout=120, check=True)

    def pg_ctl(*args):
        return run(os.path.join(binaries, "pg_ctl"), "-D", data, "-l",
                   os.path.join(home, "log"), "-w", "-t", "60",
                   "-o", "-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off" % (port, home),
                   *args)

    try:
        run(os.path.join(binaries, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
            "--no-sync")
        pg_ctl("start")
        yield "host=127.0.0.1 port=%d user=postgres dbname=postgres" % port, pg_ctl
    finally:
        try:
            pg_ctl("stop", "-m", "immediate")
        except subprocess.SubprocessError:
            pass
        shutil.rmtree(home, ignore_errors=True)


def test_server_restart_mid_run_loses_nothing(private_server, psycopg, update):
    """Pushes before, during and after a real server restart: pushes while it is down fail
    (the caller keeps those records), the outlet reconnects once it is back, and after
    re-pushing the failed ones every row is there exactly once."""
    dsn, pg_ctl = private_server
    outlet = _started(dsn, "events")
    failed = []
    try:
        for number in range(5):
            outlet.push([Record({"n": number})], update)
        pg_ctl("stop", "-m", "fast")
        for number in range(5, 8):
            try:
                outlet.push([Record({"n": number})], update)
            except psycopg.OperationalError:
                failed.append(number)
        assert failed == [5, 6, 7]
        pg_ctl("start")
        for number in failed:  # what a retry does
            outlet.push([Record({"n": number})], update)
        for number in range(8, 10):
            outlet.push([Record({"n": number})], update)
    finally:
        outlet.try_shutdown()
    assert _select(dsn, psycopg, "SELECT n FROM events ORDER BY n") == [(n,) for n in range(10)]


def test_server_restart_under_a_planner_with_retry_loses_nothing(private_server, psycopg):
    """A planner feeds PostgresOutlet through Link(retry=Retry(...)) while the server is stopped
    for a while and started again: every record produced is in the table exactly once."""
    import threading

    import databay
    from databay import Inlet, Link
    from databay.planners import SchedulePlanner

    retry_class = getattr(databay, "Retry", None)
    if retry_class is None:
        pytest.skip("databay.Retry (delivery guarantees) is not on this branch yet")
    dsn, pg_ctl = private_server

    class Numbers(Inlet):
        def __init__(self):
            super().__init__()
            self.produced = []
            self.stop = threading.Event()

        def pull(self, update):
            if self.stop.is_set():
                return []
            start = len(self.produced)
            self.produced.extend(range(start, start + 20))
            return [{"n": n} for n in range(start, start + 20)]

    def stored():
        try:
            return _select(dsn, psycopg, "SELECT n FROM events ORDER BY n")
        except psycopg.Error:
            return None

    inlet = Numbers()
    link = Link(inlet, PostgresOutlet(dsn, "events", connect_timeout=2), interval=0.05,
                retry=retry_class(first_delay=0.1, max_delay=0.5))
    waiting = threading.Event()
    with SchedulePlanner([link]):
        assert _wait_for(lambda: (stored() or []) != [], waiting, 30)
        pg_ctl("stop", "-m", "fast")
        waiting.wait(1.5)  # transfers keep running against the stopped server
        pg_ctl("start")
        waiting.wait(1.0)
        inlet.stop.set()
        expected = [(n,) for n in list(inlet.produced)]
        assert _wait_for(lambda: stored() == expected, waiting, 60), \
            "rows missing or duplicated after the restart"
    assert stored() == [(n,) for n in inlet.produced]


def _wait_for(condition, event, seconds):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        event.wait(0.1)
    return condition()


def test_payloads_must_be_dicts(dsn, table, update):
    """A payload that is not a mapping raises TypeError naming the record; nothing is written."""
    outlet = _started(dsn, table)
    try:
        with pytest.raises(TypeError, match="record 1 "):
            outlet.push([Record({"a": 1}), Record([1, 2])], update)
    finally:
        outlet.try_shutdown()
    import psycopg

    with psycopg.connect(dsn) as connection:
        assert connection.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,)
