"""PostgresOutlet: dict payloads become rows of PostgreSQL tables, one transaction per push."""

from __future__ import annotations

import threading

from .._log import get_logger
from .._validation import check_dict_payload, without_password
from ..outlet import MetadataKey, Outlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Set, Union

    from ..record import Record
    from ..update import Update

__all__ = ["PostgresOutlet"]

_LOGGER = get_logger("databay.PostgresOutlet")
_PLAIN = frozenset({type(None), int, float, str, bool, bytes})  # passed to psycopg as they are
_INT64 = (-(1 << 63), (1 << 63) - 1)
_MAX_NAME = 63  # PostgreSQL truncates longer identifiers


class PostgresOutlet(Outlet):
    """Inserts each record's dict payload as one row of a PostgreSQL table (psycopg 3).

    Rules:

    * **Tables and columns come from the data.** A missing table is created
      with one column per key, and a key the table lacks is added as a new
      column. A new column's type comes from the values of the push that
      creates it: bool ``boolean``, int ``bigint`` (``numeric`` if a value
      does not fit 64 bits), float (or ints and floats) ``double precision``,
      str ``text``, bytes ``bytea``, dict/list/tuple ``jsonb``, datetime
      ``timestamptz``/``timestamp``, date ``date``, Decimal ``numeric``; only
      None, or a mix of kinds, ``text``. Existing columns keep their type; a
      value the column cannot take fails the push (nothing of it is written).
    * **Names are checked, values are bound.** Table names and keys must be
      ASCII identifiers (letters, digits, ``_``, not starting with a digit nor
      with ``pg_``, at most 63 characters); anything else raises ValueError
      before the server is touched. Names are double-quoted, so they keep
      their case. Values travel as data (``COPY``), never as SQL text.
    * **One transaction per push**: all rows of a push, with any table or
      column it creates, are committed together or not at all.
    * **Fast bulk path:** rows go through ``COPY ... FROM STDIN``.
    * **Connection:** opened in ``on_start`` (or by the first push), reused,
      closed in ``on_shutdown``. If the server restarted, the next push
      reconnects; a push that failed before its COMMIT was sent is retried
      once on a new connection, one that failed during COMMIT is not (its
      outcome is unknown) and raises.

    Metadata keys (optional, per record):

    * ``PostgresOutlet.TABLE`` (:attr:`TABLE`): the table to insert the record into.

    Args:
        conninfo: a libpq connection string, ``"host=127.0.0.1 dbname=app
            user=databay"`` or ``"postgresql://databay@127.0.0.1/app"``; its
            password never shows in ``repr`` or messages.
        table: table for records without ``TABLE`` (in the connection's
            current schema, usually ``public``).
        processors: outlet processors, as for every :class:`~databay.outlet.Outlet`.
        connect_timeout: seconds to wait for a connection (default 10).

    Raises:
        ImportError: psycopg 3 is not installed (``pip install 'databay[postgres]'``).
        TypeError/ValueError: an argument (or, at push, a payload, a key or a
            table name) is invalid; nothing of that push is written.
        psycopg.Error: (push) the server refused the transaction; it is rolled back.
    """

    TABLE = MetadataKey("PostgresOutlet.TABLE")
    """Metadata key: name of the table to insert the record into."""

    def __init__(self, conninfo: str, table: str,
                 processors: Union[Callable, List[Callable], None] = None, *,
                 connect_timeout: float = 10) -> None:
        try:
            import psycopg  # noqa: F401 - imported here so importing databay.outlets stays cheap
            from psycopg.conninfo import conninfo_to_dict
        except ImportError as error:
            raise ImportError("PostgresOutlet needs psycopg 3: pip install 'databay[postgres]' "
                              "(%s)" % (error,)) from error
        if not isinstance(conninfo, str):
            raise TypeError("conninfo=%r must be a libpq connection string (str), e.g. "
                            "'host=127.0.0.1 dbname=app'" % (type(conninfo).__name__,))
        try:
            conninfo_to_dict(conninfo)
        except Exception as error:  # noqa: BLE001 - psycopg.ProgrammingError, with its reason
            raise ValueError("conninfo=%r is not a valid libpq connection string: %s"
                             % (redact_conninfo(conninfo), error)) from None
        self.table = check_pg_identifier("table", table)
        if isinstance(connect_timeout, bool) or not isinstance(connect_timeout, (int, float)):
            raise TypeError("connect_timeout=%r must be a number of seconds >= 1"
                            % (connect_timeout,))
        if not 1 <= connect_timeout < 1e6:
            raise ValueError("connect_timeout=%r must be a number of seconds >= 1 (and below "
                             "a million)" % (connect_timeout,))
        super().__init__(processors)
        self.conninfo = conninfo
        self.connect_timeout = connect_timeout
        self._connection: Any = None
        self._columns: Dict[str, Set[str]] = {}  # table -> its columns, as last seen
        self._lock = threading.Lock()  # one connection: one push at a time

    def on_start(self) -> None:
        """Open the connection (a failure here fails the start, loudly and early)."""
        with self._lock:
            self._connect()

    def on_shutdown(self) -> None:
        """Close the connection."""
        with self._lock:
            self._disconnect()

    def push(self, records: List[Record], update: Update) -> None:
        """Insert the records in one transaction; see the class docstring."""
        tables = self._plan(records, update)
        if not tables:
            return
        import psycopg

        with self._lock:
            for attempt in (1, 2):
                connection = self._connection or self._connect()
                committing = False
                try:
                    for table, runs in tables.items():
                        self._prepare_table(connection, table, runs)
                        for keys, rows in runs:
                            _copy_rows(connection, table, keys, rows)
                    committing = True
                    connection.commit()
                    return
                except BaseException as error:
                    self._columns.clear()  # what the server has is unknown now: ask again
                    broken = connection.closed or connection.broken
                    if broken:
                        self._disconnect()
                    else:
                        connection.rollback()
                    if attempt == 1 and broken and not committing and \
                            isinstance(error, psycopg.OperationalError):
                        _LOGGER.warning("%s: the connection to %s broke (%s); reconnecting and "
                                        "retrying the push once", self, self._where(), error)
                        continue
                    raise

    def _plan(self, records: List[Record], update: Update) -> Dict[str, list]:
        """Check everything and group the rows: ``{table: [(keys, rows)]}``.

        Rows of one table stay in push order; consecutive rows with the same
        keys form one run, written with one ``COPY``.
        """
        tables: Dict[str, list] = {}
        checked: Dict[tuple, tuple] = {}  # key tuple as given -> plain str keys
        plain = _PLAIN
        for index, record in enumerate(records):
            payload = record.payload
            if type(payload) is not dict:
                check_dict_payload("PostgresOutlet", "inserts one row per", index, update,
                                   payload)
            table = record.metadata.get(self.TABLE, self.table)
            runs = tables.get(table) if type(table) is str else None
            if runs is None:
                table = check_pg_identifier(self.TABLE, table)
                runs = tables.setdefault(table, [])
            given = tuple(payload)
            keys = checked.get(given)
            if keys is None:
                keys = checked[given] = _check_keys(given, index)
            row = list(payload.values())
            if not plain.issuperset(map(type, row)):
                row = [_to_pg(value) for value in row]
            if runs and runs[-1][0] == keys:
                runs[-1][1].append(row)
            else:
                runs.append((keys, [row]))
        return tables

    def _prepare_table(self, connection: Any, table: str, runs: list) -> None:
        """Create ``table`` or add the columns it lacks (names were checked by the caller)."""
        wanted: Dict[str, None] = {}
        for keys, _ in runs:
            wanted.update(dict.fromkeys(keys))
        known = self._columns.get(table)
        if known is not None and known.issuperset(wanted):
            return
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s", (table,)).fetchall()
        known = {row[0] for row in rows}
        missing = [column for column in wanted if column not in known]
        types = _column_types(missing, runs)
        if not known:
            if not types:
                raise ValueError("cannot create table %r from records without keys" % (table,))
            connection.execute('CREATE TABLE IF NOT EXISTS "%s" (%s)' % (
                table, ", ".join('"%s" %s' % item for item in types.items())))
        else:
            for column, kind in types.items():
                connection.execute('ALTER TABLE "%s" ADD COLUMN IF NOT EXISTS "%s" %s'
                                   % (table, column, kind))
        self._columns[table] = known | set(types)

    def _connect(self) -> Any:
        import psycopg

        if self._connection is not None and not self._connection.closed:
            return self._connection
        try:
            self._connection = psycopg.connect(self.conninfo, autocommit=False,
                                               connect_timeout=int(self.connect_timeout))
        except psycopg.Error as error:
            raise type(error)("PostgresOutlet cannot connect to %s: %s"
                              % (self._where(), error)) from None
        self._columns.clear()
        return self._connection

    def _disconnect(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone
                pass

    def _where(self) -> str:
        return redact_conninfo(self.conninfo)

    def __repr__(self) -> str:
        return "PostgresOutlet(conninfo=%r, table=%r)" % (self._where(), self.table)


def redact_conninfo(conninfo: str) -> str:
    """``conninfo`` with its password shown as ``***`` (key/value and URI forms)."""
    import re

    if re.match(r"postgres(ql)?://", conninfo):
        from urllib.parse import urlsplit, urlunsplit

        try:
            parts = urlsplit(conninfo)
        except ValueError:
            return "<unparsable connection string>"
        netloc = without_password(parts.netloc)
        query = re.sub(r"(?i)(password=)[^&]*", r"\1***", parts.query)
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return re.sub(r"(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", conninfo)


def check_pg_identifier(name: str, value: Any) -> str:
    """Return ``value`` as a plain str if it is an accepted PostgreSQL table name."""
    if not isinstance(value, str):
        raise TypeError("%s=%r must be a str naming a table: ASCII letters, digits and _"
                        % (name, value))
    plain = str.__str__(value)  # a str subclass's own __str__ never reaches the SQL
    if not _is_pg_name(plain):
        raise ValueError("%s=%r is not an accepted SQL name: use ASCII letters, digits and _ "
                         "(at most %d), not starting with a digit or with 'pg_'"
                         % (name, plain, _MAX_NAME))
    return plain


def _is_pg_name(name: str) -> bool:
    return (name.isascii() and name.isidentifier() and len(name) <= _MAX_NAME and
            not name.lower().startswith("pg_"))


def _check_keys(keys: tuple, index: int) -> tuple:
    plain = []
    for key in keys:
        text = str.__str__(key) if isinstance(key, str) else None
        if text is None or not _is_pg_name(text):
            raise ValueError("record %d has key %r, which is not an accepted column name: use "
                             "ASCII letters, digits and _ (at most %d), not starting with a "
                             "digit or with 'pg_' (rename keys in a processor)"
                             % (index, key, _MAX_NAME))
        plain.append(text)
    if len(set(plain)) != len(plain):
        raise ValueError("record %d has keys %r that name one column twice" % (index, keys))
    return tuple(plain)


def _to_pg(value: Any) -> Any:
    """``value`` as psycopg adapts it: plain types as they are, containers as JSONB."""
    kind = type(value)
    if kind in (type(None), int, float, str, bool, bytes):
        return value
    if isinstance(value, (dict, list, tuple)):
        from psycopg.types.json import Jsonb

        return Jsonb(value, dumps=_dumps)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):  # IntEnum and friends
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    import datetime
    import decimal

    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)):
        return value
    return str(value)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def _kind(value: Any) -> str:
    """A short name for the column type a value asks for."""
    kind = type(value)
    if kind is int:
        return "int" if _INT64[0] <= value <= _INT64[1] else "bigint-overflow"
    if kind is str:
        return "str"
    if kind is float:
        return "float"
    if value is None:
        return "none"
    if kind is bool:
        return "bool"
    if kind is bytes:
        return "bytes"
    import datetime

    if isinstance(value, datetime.datetime):
        return "timestamptz" if value.tzinfo is not None else "timestamp"
    return {"Jsonb": "jsonb", "date": "date", "time": "time", "timedelta": "interval",
            "Decimal": "numeric"}.get(kind.__name__, "str")


_TYPES = {"int": "bigint", "bigint-overflow": "numeric", "float": "double precision",
          "str": "text", "bool": "boolean", "bytes": "bytea", "jsonb": "jsonb",
          "timestamptz": "timestamptz", "timestamp": "timestamp", "date": "date",
          "time": "time", "interval": "interval", "numeric": "numeric"}


def _column_types(columns: List[str], runs: list) -> Dict[str, str]:
    """SQL types for new ``columns``, from every value the push has for them."""
    kinds: Dict[str, Set[str]] = {column: set() for column in columns}
    for keys, rows in runs:
        positions = [(index, kinds[key]) for index, key in enumerate(keys) if key in kinds]
        for row in rows:
            for index, seen in positions:
                seen.add(_kind(row[index]))
    return {column: _column_type(kind) for column, kind in kinds.items()}


def _column_type(kinds: Set[str]) -> str:
    """The SQL type for a new column holding values of ``kinds``."""
    kinds = kinds - {"none"}
    if not kinds:
        return "text"
    if len(kinds) == 1:
        return _TYPES[next(iter(kinds))]
    if kinds <= {"int", "float"}:
        return "double precision"
    if kinds <= {"int", "bigint-overflow", "numeric"}:
        return "numeric"
    return "text"


def _copy_rows(connection: Any, table: str, keys: tuple, rows: List[list]) -> None:
    """Insert ``rows`` (values in ``keys`` order) with one COPY."""
    cursor = connection.cursor()
    if not keys:
        for _ in rows:
            cursor.execute('INSERT INTO "%s" DEFAULT VALUES' % table)
        return
    statement = 'COPY "%s" (%s) FROM STDIN' % (table, ", ".join('"%s"' % key for key in keys))
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
