"""SqliteOutlet on real SQLite files, re-opened and queried after each push."""

import sqlite3
import threading

import pytest

from databay import Record
from databay.outlet import MetadataKey
from databay.outlets import SqliteOutlet


def query(path, sql, *params):
    connection = sqlite3.connect(str(path))
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def columns(path, table):
    return [row[1] for row in query(path, 'PRAGMA table_info("%s")' % table)]


def test_table_key_is_named_after_the_outlet():
    """TABLE is a MetadataKey attribute named 'SqliteOutlet.TABLE'."""
    assert SqliteOutlet.TABLE == "SqliteOutlet.TABLE" and isinstance(SqliteOutlet.TABLE, MetadataKey)


def test_rows_and_columns_from_dicts(tmp_path, update):
    """A missing table is created from the keys; values keep their SQLite types."""
    db = tmp_path / "data.db"
    SqliteOutlet(db, "events").push([Record({"id": 1, "name": "a", "score": 1.5, "raw": b"\x00"}),
                                     Record({"id": 2, "name": None, "score": 2.0, "raw": b""})],
                                    update)
    assert columns(db, "events") == ["id", "name", "score", "raw"]
    assert query(db, "SELECT id, name, score, raw, typeof(id), typeof(score) FROM events ORDER BY id") == [
        (1, "a", 1.5, b"\x00", "integer", "real"), (2, None, 2.0, b"", "integer", "real")]


def test_new_keys_add_columns(tmp_path, update):
    """Keys the table lacks are added with ALTER TABLE; rows without a column get NULL."""
    db = tmp_path / "data.db"
    outlet = SqliteOutlet(db, "t")
    outlet.push([Record({"a": 1})], update)
    outlet.push([Record({"a": 2, "b": "x"}), Record({"c": 3})], update)
    assert columns(db, "t") == ["a", "b", "c"]
    assert query(db, "SELECT a, b, c FROM t ORDER BY rowid") == [
        (1, None, None), (2, "x", None), (None, None, 3)]


def test_nested_values_are_json_text(tmp_path, update):
    """dicts, lists and tuples are stored as JSON text; bools as 0/1; other objects as str."""
    import decimal
    import json

    db = tmp_path / "data.db"
    SqliteOutlet(db, "t").push([Record({"d": {"k": [1, "é"]}, "l": [1, 2], "t": (3,),
                                        "flag": True, "dec": decimal.Decimal("1.10")})], update)
    d, l_, t, flag, dec = query(db, "SELECT d, l, t, flag, dec FROM t")[0]
    assert json.loads(d) == {"k": [1, "é"]} and json.loads(l_) == [1, 2] and json.loads(t) == [3]
    assert flag == 1 and dec == "1.10"


def test_table_metadata_routes_records(tmp_path, update):
    """The TABLE metadata key routes records to tables, each created from its own keys."""
    db = tmp_path / "data.db"
    SqliteOutlet(db, "default").push([Record({"a": 1}), Record({"b": 2}, {SqliteOutlet.TABLE: "other"}),
                                      Record({"a": 3})], update)
    assert query(db, "SELECT a FROM \"default\" ORDER BY rowid") == [(1,), (3,)]
    assert query(db, "SELECT b FROM other") == [(2,)]


def test_row_order_is_push_order_across_key_sets(tmp_path, update):
    """Rows are inserted in push order even when their key sets alternate."""
    db = tmp_path / "data.db"
    records = [Record({"i": i} if i % 2 else {"i": i, "even": True}) for i in range(10)]
    SqliteOutlet(db, "t").push(records, update)
    assert [row[0] for row in query(db, "SELECT i FROM t ORDER BY rowid")] == list(range(10))


def test_case_insensitive_names_share_a_column(tmp_path, update):
    """'Name' and 'name' in different records are one column, as SQLite compares names."""
    db = tmp_path / "data.db"
    SqliteOutlet(db, "t").push([Record({"Name": "a"}), Record({"name": "b"})], update)
    assert columns(db, "t") == ["Name"]
    assert query(db, "SELECT name FROM t ORDER BY rowid") == [("a",), ("b",)]


def test_injection_in_table_name_is_refused_and_nothing_written(tmp_path, update):
    """A TABLE like 'x; DROP TABLE y' is refused with a clear error and nothing of the push is written."""
    db = tmp_path / "data.db"
    outlet = SqliteOutlet(db, "y")
    outlet.push([Record({"a": 1})], update)
    with pytest.raises(ValueError, match="SqliteOutlet.TABLE='x; DROP TABLE y'"):
        outlet.push([Record({"a": 2}), Record({"a": 3}, {SqliteOutlet.TABLE: "x; DROP TABLE y"})],
                    update)
    assert query(db, "SELECT a FROM y") == [(1,)]
    assert query(db, "SELECT name FROM sqlite_master WHERE type='table'") == [("y",)]


@pytest.mark.parametrize("key", ['a"b', "a b", "1abc", "sqlite_x", "", "é", 5, 'x") --'])
def test_bad_column_names_are_refused_and_nothing_written(tmp_path, update, key):
    """Keys that are not plain ASCII identifiers are refused before the database is touched."""
    db = tmp_path / "data.db"
    with pytest.raises(ValueError, match="column name"):
        SqliteOutlet(db, "t").push([Record({"ok": 1}), Record({key: 1})], update)
    assert not db.exists()


def test_duplicate_case_keys_in_one_record_are_refused(tmp_path, update):
    """One record with 'a' and 'A' (one SQLite column) is refused with ValueError."""
    with pytest.raises(ValueError, match="case-insensitive"):
        SqliteOutlet(tmp_path / "x.db", "t").push([Record({"a": 1, "A": 2})], update)


def test_non_dict_payload_is_refused_and_nothing_written(tmp_path, update):
    """A non-mapping payload raises TypeError naming the record, before any row is written."""
    db = tmp_path / "data.db"
    with pytest.raises(TypeError, match="record 1"):
        SqliteOutlet(db, "t").push([Record({"a": 1}), Record([1, 2])], update)
    assert not db.exists()


def test_one_transaction_per_push(tmp_path, update):
    """If a row fails inside the database, the whole push (rows, new table, new columns) is rolled back."""
    db = tmp_path / "data.db"
    outlet = SqliteOutlet(db, "t")
    outlet.push([Record({"a": 1})], update)
    with pytest.raises(OverflowError):
        outlet.push([Record({"a": 2, "new": 1}), Record({"a": 3}, {SqliteOutlet.TABLE: "u"}),
                     Record({"a": 2 ** 70})], update)
    assert query(db, "SELECT * FROM t") == [(1,)]
    assert columns(db, "t") == ["a"]
    assert query(db, "SELECT name FROM sqlite_master") == [("t",)]


def test_empty_dict_rows(tmp_path, update):
    """An empty dict inserts a row of NULLs into an existing table; it cannot create one."""
    db = tmp_path / "data.db"
    outlet = SqliteOutlet(db, "t")
    outlet.push([Record({"a": 1}), Record({})], update)
    assert query(db, "SELECT a FROM t ORDER BY rowid") == [(1,), (None,)]
    with pytest.raises(ValueError, match="without keys"):
        outlet.push([Record({}, {SqliteOutlet.TABLE: "fresh"})], update)


def test_concurrent_pushes_from_threads(tmp_path, update):
    """Pushes from several threads at once all commit (one connection per push)."""
    db = tmp_path / "data.db"
    outlet = SqliteOutlet(db, "t", timeout=30)
    outlet.push([Record({"w": -1, "i": -1})], update)
    barrier = threading.Barrier(4)
    errors = []

    def work(worker):
        barrier.wait()
        try:
            for i in range(20):
                outlet.push([Record({"w": worker, "i": i})], update)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert query(db, "SELECT count(*) FROM t") == [(81,)]


def test_empty_push_does_not_create_the_database(tmp_path, update):
    """A push without records does not touch the database."""
    db = tmp_path / "data.db"
    SqliteOutlet(db, "t").push([], update)
    assert not db.exists()


@pytest.mark.parametrize("args, kwargs, error, name", [
    ((None, "t"), {}, TypeError, "database"),
    ((":memory:", "t"), {}, ValueError, "database"),
    (("x.db", "bad name"), {}, ValueError, "table"),
    (("x.db", "t; DROP TABLE y"), {}, ValueError, "table"),
    (("x.db", 3), {}, TypeError, "table"),
    (("x.db", "t"), {"timeout": -1}, ValueError, "timeout"),
    (("x.db", "t"), {"timeout": "1"}, TypeError, "timeout"),
    (("x.db", "t"), {"processors": 1}, TypeError, "processors"),
])
def test_bad_arguments_name_the_parameter(args, kwargs, error, name):
    """Each bad argument raises TypeError/ValueError naming the parameter."""
    with pytest.raises(error, match="^%s=" % name):
        SqliteOutlet(*args, **kwargs)
