"""The durable journal: what a link pulled and what its outlets still owe, in SQLite.

One file may serve several links (each writes under its own name) and
several processes (SQLite's WAL mode lets readers and one writer share it).
Within a process every link naming the same file shares one connection,
guarded by a lock. Two tables:

``pulled``
    one row per transfer: the records its pulls returned, committed before
    processors run; deleted once nothing derived from them is left in the link.
``queued``
    one row per batch waiting in an outlet's retry queue, in order.

Rows hold pickled records. ``synchronous=NORMAL`` in WAL mode makes every
commit survive a crash of the process (``kill -9``); only a power cut or an
operating-system crash can lose the last commits.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterable, List, Optional, Tuple

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS databay_pulled ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, link TEXT NOT NULL, records BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS databay_pulled_link ON databay_pulled (link, id)",
    "CREATE TABLE IF NOT EXISTS databay_queued ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, link TEXT NOT NULL, outlet TEXT NOT NULL,"
    " attempts INTEGER NOT NULL, batch BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS databay_queued_link ON databay_queued (link, outlet, id)",
)

_OPEN: Dict[str, Journal] = {}
_OPEN_LOCK = threading.Lock()


def check_path(value: Any) -> str:
    """Return the journal path of ``Link(journal=value)``; TypeError/ValueError when unusable."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError("journal=%r must be a path (str or os.PathLike) to an SQLite file" % (value,))
    path = os.fspath(value)
    if not isinstance(path, str) or not path or "\0" in path or path == ":memory:":
        raise ValueError("journal=%r must be the path of an SQLite file (not empty, no NUL byte, "
                         "not ':memory:', which a restart would not find)" % (value,))
    if os.path.isdir(path):
        raise ValueError("journal=%r is a directory; give the path of an SQLite file in it" % (value,))
    return path


def dump_records(records: List[Any]) -> bytes:
    """Pickle ``records``; a plain Record as a (payload, metadata) pair (several times faster)."""
    from .record import Record

    return pickle.dumps([(record.payload, record.metadata) if type(record) is Record else record
                         for record in records], protocol=pickle.HIGHEST_PROTOCOL)


def load_records(blob: bytes) -> List[Any]:
    from .record import Record

    return [Record(*item) if type(item) is tuple else item
            for item in pickle.loads(blob)]  # noqa: S301 - our own file, written by dump_records()


def dump_batch(update: Any, records: List[Any]) -> bytes:
    """Pickle a queued batch: the update it came from and its records."""
    return pickle.dumps((update, dump_records(records)), protocol=pickle.HIGHEST_PROTOCOL)


def load_batch(blob: bytes) -> Tuple[Any, List[Any]]:
    update, records = pickle.loads(blob)  # noqa: S301 - our own file, written by dump_batch()
    return update, load_records(records)


class Journal:
    """One open journal file; get it with :meth:`acquire`, give it back with :meth:`release`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.users = 0
        self.names: Dict[str, Any] = {}  # link name -> the Link using it in this process
        self.lock = threading.Lock()
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            for statement in _SCHEMA:
                self._db.execute(statement)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def acquire(cls, path: str, name: str, link: Any) -> Journal:
        """The open journal at ``path`` for ``link`` writing as ``name`` (opened on first use)."""
        key = os.path.realpath(path)
        with _OPEN_LOCK:
            journal = _OPEN.get(key)
            if journal is None:
                journal = _OPEN[key] = cls(path)
            other = journal.names.get(name)
            if other is not None and other is not link:
                if not journal.users:
                    del _OPEN[key]
                    journal._db.close()
                raise ValueError("journal=%r: %r already writes to it as %r; links sharing a journal "
                                 "need distinct keys (Link(key=...)) or tags" % (path, other, name))
            journal.names[name] = link
            journal.users += 1
        return journal

    def release(self, name: str) -> None:
        """``name`` stopped using the journal; the last user closes it."""
        with _OPEN_LOCK:
            self.names.pop(name, None)
            self.users -= 1
            if self.users > 0:
                return
            _OPEN.pop(os.path.realpath(self.path), None)
        with self.lock:
            self._db.close()

    def append(self, name: str, blob: bytes) -> int:
        """Commit one ``pulled`` row; return its id."""
        with self.lock:
            cursor = self._db.execute("INSERT INTO databay_pulled (link, records) VALUES (?, ?)",
                                      (name, blob))
        return cursor.lastrowid  # type: ignore[return-value]

    def pending(self, name: str) -> Tuple[List[Tuple[int, bytes]], List[Tuple[int, str, int, bytes]]]:
        """What ``name`` left behind: ``pulled`` rows and ``queued`` rows, oldest first."""
        with self.lock:
            pulled = self._db.execute("SELECT id, records FROM databay_pulled WHERE link = ? ORDER BY id",
                                      (name,)).fetchall()
            queued = self._db.execute("SELECT id, outlet, attempts, batch FROM databay_queued "
                                      "WHERE link = ? ORDER BY id", (name,)).fetchall()
        return pulled, queued

    def settle(self, name: str, inserts: Iterable[Tuple[Any, str, int, bytes]],
               rewrites: Iterable[Tuple[int, int, bytes]], deletes: Iterable[int],
               pulled_below: Optional[int]) -> None:
        """One transaction: queue rows in (``inserts``: entry, outlet, attempts, blob; the entry's
        ``journal_id`` is set), rewritten, deleted; ``pulled`` rows with id < ``pulled_below`` deleted."""
        if not (inserts or rewrites or deletes):  # the common case: one statement, no transaction
            if pulled_below is not None:
                with self.lock:
                    self._db.execute("DELETE FROM databay_pulled WHERE link = ? AND id < ?",
                                     (name, pulled_below))
            return
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for entry, outlet, attempts, blob in inserts:
                    entry.journal_id = self._db.execute(
                        "INSERT INTO databay_queued (link, outlet, attempts, batch) VALUES (?, ?, ?, ?)",
                        (name, outlet, attempts, blob)).lastrowid
                for row, attempts, blob in rewrites:
                    self._db.execute("UPDATE databay_queued SET attempts = ?, batch = ? WHERE id = ?",
                                     (attempts, blob, row))
                for row in deletes:
                    self._db.execute("DELETE FROM databay_queued WHERE id = ?", (row,))
                if pulled_below is not None:
                    self._db.execute("DELETE FROM databay_pulled WHERE link = ? AND id < ?",
                                     (name, pulled_below))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def counts(self, name: Optional[str] = None) -> Tuple[int, int]:
        """(pulled rows, queued rows), of ``name`` or of every link."""
        where, args = ("WHERE link = ?", (name,)) if name is not None else ("", ())
        with self.lock:
            pulled = self._db.execute("SELECT COUNT(*) FROM databay_pulled " + where, args).fetchone()[0]
            queued = self._db.execute("SELECT COUNT(*) FROM databay_queued " + where, args).fetchone()[0]
        return pulled, queued
