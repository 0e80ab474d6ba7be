"""SqliteOutlet: dict payloads become rows of SQLite tables, one transaction per push."""

from __future__ import annotations

import os

from .._validation import check_dict_payload
from ..outlet import MetadataKey, Outlet
from ._files import check_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Tuple, Union

    from ..record import Record
    from ..update import Update

__all__ = ["SqliteOutlet"]

_PLAIN = (type(None), int, float, str, bytes)


class SqliteOutlet(Outlet):
    """Inserts each record's dict payload as one row of an SQLite table.

    Rules:

    * **Tables and columns come from the data.** A missing table is created
      with one column per key; a key the table lacks is added with
      ``ALTER TABLE ... ADD COLUMN``. Columns have no declared type, so every
      value keeps its SQLite storage class (INTEGER, REAL, TEXT, BLOB, NULL).
      A row without some column stores NULL there.
    * **Names are checked, values are bound.** Table names and keys must be
      ASCII identifiers (letters, digits, ``_``, not starting with a digit nor
      with ``sqlite_``); anything else, such as ``"x; DROP TABLE y"``, raises
      ValueError before the database is touched. Names are then double-quoted
      in the SQL, and values are always bound as parameters. SQLite compares
      names case-insensitively, so ``Name`` and ``name`` are one column.
    * **Values:** None, int, float, str and bytes are stored as they are, bool
      as 0/1; dicts, lists and tuples as JSON text; anything else as ``str(value)``.
    * **One transaction per push** (``BEGIN IMMEDIATE``): all rows of a push,
      with any table or column it creates, are committed together or not at all.
    * Payloads must be mappings (e.g. dicts); any other payload raises
      TypeError and nothing of the push is written.

    Each push opens its own connection and closes it, so the outlet is safe
    to use from the planner's worker threads and from several links at once.
    For that reason ``':memory:'`` is refused: it would be a new, empty
    database on every push.

    Metadata keys (optional, per record):

    * ``SqliteOutlet.TABLE`` (:attr:`TABLE`): the table to insert the record into.

    Args:
        database: path of the SQLite database file (created if missing).
        table: table for records without ``TABLE``.
        processors: outlet processors, as for every :class:`~databay.outlet.Outlet`.
        timeout: seconds to wait for another connection's lock (default 5.0).

    Raises:
        ImportError: this Python was built without :mod:`sqlite3`.
        TypeError/ValueError: an argument (or, at push, a payload, a key or a
            table name) is invalid; nothing of that push is written.
        sqlite3.Error: (push) the database refused the transaction; it is rolled back.
    """

    TABLE = MetadataKey("SqliteOutlet.TABLE")
    """Metadata key: name of the table to insert the record into."""

    def __init__(self, database: Union[str, os.PathLike], table: str,
                 processors: Union[Callable, List[Callable], None] = None, *,
                 timeout: float = 5.0) -> None:
        try:
            import sqlite3  # noqa: F401 - imported here so importing databay.outlets stays cheap
        except ImportError as error:
            raise ImportError("SqliteOutlet needs the standard library module sqlite3, which "
                              "this Python was built without: %s" % (error,)) from error
        check_path("database", database)
        if os.fspath(database) in (":memory:", b":memory:"):
            raise ValueError("database=%r: each push opens its own connection, so an in-memory "
                             "database would start empty every time; give a file path"
                             % (database,))
        if os.path.isdir(database):
            raise ValueError("database=%r is a directory; give the path of an SQLite database "
                             "file (created if missing)" % (database,))
        self.table = check_identifier("table", table)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError("timeout=%r must be a number of seconds >= 0" % (timeout,))
        if not 0 <= timeout < float("inf"):
            raise ValueError("timeout=%r must be a number of seconds >= 0" % (timeout,))
        super().__init__(processors)
        self.database = database
        self.timeout = float(timeout)

    def push(self, records: List[Record], update: Update) -> None:
        """Insert the records in one transaction; see the class docstring."""
        tables = self._plan(records, update)
        if not tables:
            return
        import sqlite3

        connection = sqlite3.connect(os.fspath(self.database), timeout=self.timeout,
                                     isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                for table, (columns, runs) in tables.items():
                    _prepare_table(connection, table, columns)
                    for keys, rows in runs:
                        if keys:
                            connection.executemany('INSERT INTO "%s" (%s) VALUES (%s)' % (
                                table, ", ".join('"%s"' % key for key in keys),
                                ", ".join("?" * len(keys))), rows)
                        else:
                            for _ in rows:
                                connection.execute('INSERT INTO "%s" DEFAULT VALUES' % table)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        finally:
            connection.close()

    def _plan(self, records: List[Record], update: Update) -> Dict[str, Tuple[Dict[str, str], list]]:
        """Check everything and group the rows: ``{table: ({lower: column}, [(keys, rows)])}``.

        Rows of one table stay in push order; consecutive rows with the same
        keys form one run, inserted with one ``executemany``.
        """
        tables: Dict[str, Tuple[Dict[str, str], list]] = {}
        names: Dict[str, str] = {}  # table name as given -> table name used (first spelling)
        checked: Dict[tuple, None] = {}  # key tuples already validated
        for index, record in enumerate(records):
            payload = record.payload
            check_dict_payload("SqliteOutlet", "inserts one row per", index, update, payload)
            table = record.metadata.get(self.TABLE, self.table)
            name = names.get(table) if isinstance(table, str) else None
            if name is None:
                plain = check_identifier(self.TABLE, table)
                name = next((used for used in tables if used.lower() == plain.lower()), plain)
                names[table] = name
            entry = tables.get(name)
            if entry is None:
                entry = tables[name] = ({}, [])
            columns, runs = entry
            keys = tuple(payload)
            if keys not in checked:
                _check_keys(keys, index)
                checked[keys] = None
            if not all(type(key) is str for key in keys):  # str subclasses: their own text,
                keys = tuple(str.__str__(key) for key in keys)  # whatever __str__ says
            for key in keys:
                columns.setdefault(key.lower(), key)
            row = [_to_sql(value) for value in payload.values()]
            if any(value != value for value in row):  # NaN is the only value unequal to itself
                _refuse_nan(keys, row, index)
            if runs and runs[-1][0] == keys:
                runs[-1][1].append(row)
            else:
                runs.append((keys, [row]))
        return tables

    def __repr__(self) -> str:
        return "SqliteOutlet(database=%r, table=%r)" % (self.database, self.table)


def check_identifier(name: str, value: Any) -> str:
    """Return ``value`` if it is a safe SQL identifier: ASCII letters, digits, ``_``."""
    if not isinstance(value, str):
        raise TypeError("%s=%r must be a str naming a table: ASCII letters, digits and _"
                        % (name, value))
    if not _is_sql_name(value):
        raise ValueError("%s=%r is not an accepted SQL name: use ASCII letters, digits and _, "
                         "not starting with a digit or with 'sqlite_'" % (name, value))
    return str.__str__(value)  # a str subclass's own __str__ never reaches the SQL


def _is_sql_name(name: str) -> bool:
    """ASCII letters, digits and ``_``, not starting with a digit nor with ``sqlite_``."""
    name = str.__str__(name)  # a str subclass cannot override the checks below
    return name.isascii() and name.isidentifier() and not name.lower().startswith("sqlite_")


def _check_keys(keys: tuple, index: int) -> None:
    seen: Dict[str, Any] = {}
    for key in keys:
        if not isinstance(key, str) or not _is_sql_name(key):
            raise ValueError("record %d has key %r, which is not an accepted column name: use "
                             "ASCII letters, digits and _, not starting with a digit or with "
                             "'sqlite_' (rename keys in a processor)" % (index, key))
        other = seen.setdefault(key.lower(), key)
        if other != key:
            raise ValueError("record %d has keys %r and %r, which are one column in SQLite "
                             "(names are case-insensitive)" % (index, other, key))


def _refuse_nan(keys: tuple, row: list, index: int) -> None:
    """SQLite stores NaN as NULL: refuse it rather than lose the value silently."""
    for key, value in zip(keys, row):
        if isinstance(value, float) and value != value:
            raise ValueError("record %d has NaN under key %r; SQLite would store it as NULL. "
                             "Replace it in a processor (e.g. with None) first; nothing of this "
                             "push was written" % (index, key))


def _prepare_table(connection: Any, table: str, columns: Dict[str, str]) -> None:
    """Create ``table`` or add the columns it lacks (names were checked by the caller)."""
    existing = {row[1].lower() for row in connection.execute('PRAGMA table_info("%s")' % table)}
    if not existing:
        if not columns:
            raise ValueError("cannot create table %r from records without keys" % (table,))
        connection.execute('CREATE TABLE "%s" (%s)' % (
            table, ", ".join('"%s"' % column for column in columns.values())))
        return
    for lower, column in columns.items():
        if lower not in existing:
            connection.execute('ALTER TABLE "%s" ADD COLUMN "%s"' % (table, column))


def _to_sql(value: Any) -> Any:
    """Return ``value`` as something sqlite3 binds: plain types as is, containers as JSON."""
    if type(value) in _PLAIN:
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list, tuple)):
        import json

        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str):  # str subclasses, whatever their __str__ says
        return str.__str__(value)
    if isinstance(value, int):  # subclasses such as IntEnum
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value)
