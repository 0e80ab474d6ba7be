"""CsvOutlet: write dict payloads as rows of CSV files, one open per file per push."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._validation import check_dict_payload, check_encoding
from ..outlet import MetadataKey, Outlet
from ._files import FileTransaction, Targets, check_base_dir, check_mode, check_path, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Tuple, Union

    from ..record import Record
    from ..update import Update
    from ._files import Target

__all__ = ["CsvOutlet"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MISSING = object()  # a key no payload has: its column is filled with ''


class CsvOutlet(Outlet):
    """Writes each record's dict payload as one CSV row.

    A new or empty file gets a header first. Mode ``'w'`` replaces the file
    once per push, so it then holds a header and exactly that push's rows (if
    any record of the push asks ``'w'`` for a file, the file is replaced).

    **All or nothing** as for :class:`~databay.outlets.FileOutlet`: every row
    is encoded first, ``'w'`` and column additions go through a temporary
    file and an atomic rename, failed appends are truncated back, and writers
    of one file in this process take turns through one lock per file, so a
    rewrite never drops another writer's rows. **Reads back what it writes:**
    a cell or column name longer than ``csv.field_size_limit()`` (or holding
    NUL) is refused before anything is written.

    Columns (records with different keys never misalign): a file's header is
    the union of every key written to it, in first-seen order. A record
    without some column gets an empty cell there. When records bring a key
    the existing header lacks, the file is rewritten once with the new columns
    appended to the header (older rows get empty cells), through a temporary
    file in the same directory that replaces the original. Keys are written
    with ``str(key)``; values as the :mod:`csv` module writes them (``None``
    as an empty cell, other objects with ``str``).

    Payloads must be mappings (e.g. dicts); any other payload raises
    TypeError before anything of the push is written.

    Metadata keys (optional, per record):

    * ``CsvOutlet.CSV_FILE`` (:attr:`CSV_FILE`): the CSV file to write to.
    * ``CsvOutlet.FILE_MODE`` (:attr:`FILE_MODE`): ``'a'`` (append) or ``'w'``.

    Args:
        default_filepath: file for records without ``CSV_FILE``.
        default_file_mode: ``'a'`` (default) or ``'w'``.
        processors: outlet processors, as for every :class:`~databay.outlet.Outlet`.
        encoding: text encoding of the files (default ``'utf-8'``).
        base_dir: as for :class:`~databay.outlets.FileOutlet`: paths stay
            inside it, symlinks under it are never followed, without a race.
        escape_formulas: neutralise spreadsheet formula injection: a header or
            text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
            return is written with a leading ``'``. Numbers (int, float) are
            never changed, but text such as ``'-5'`` is.

    Raises:
        TypeError/ValueError: an argument (or, at push, a payload, a metadata
            value or an oversize or unencodable cell) is invalid; nothing of
            that push is written.
        OSError: (push) the system refused a write; nothing of that push stays written.
    """

    CSV_FILE = MetadataKey("CsvOutlet.CSV_FILE")
    """Metadata key: path of the CSV file to write the record to."""

    FILE_MODE = MetadataKey("CsvOutlet.FILE_MODE")
    """Metadata key: ``'a'`` to append, ``'w'`` to truncate the file once per push."""

    def __init__(self, default_filepath: Union[str, os.PathLike], default_file_mode: str = "a",
                 processors: Union[Callable, List[Callable], None] = None, *,
                 encoding: str = "utf-8", base_dir: Union[str, os.PathLike, None] = None,
                 escape_formulas: bool = False) -> None:
        check_path("default_filepath", default_filepath)
        self.default_file_mode = check_mode("default_file_mode", default_file_mode)
        self.encoding = check_encoding("encoding", encoding)
        self.base_dir = check_base_dir(base_dir)
        resolve("default_filepath", default_filepath, self.base_dir)  # fail early if outside
        if not isinstance(escape_formulas, bool):
            raise TypeError("escape_formulas=%r must be True or False" % (escape_formulas,))
        self.escape_formulas = escape_formulas
        super().__init__(processors)
        self.default_filepath = default_filepath

    def push(self, records: List[Record], update: Update) -> None:
        """Write the records, all or nothing; see the class docstring."""
        files: Dict[str, List[Any]] = {}  # path -> [target, mode, payloads]
        target = Targets(self.CSV_FILE, self.default_filepath, self.base_dir)
        for index, record in enumerate(records):
            payload = record.payload
            check_dict_payload("CsvOutlet", "writes one row per", index, update, payload)
            metadata = record.metadata
            where = target(metadata.get(self.CSV_FILE))
            mode = metadata.get(self.FILE_MODE)
            mode = self.default_file_mode if mode is None else check_mode(self.FILE_MODE, mode)
            entry = files.get(where.path)
            if entry is None:
                files[where.path] = [where, mode, [payload]]
            else:
                if mode == "w":
                    entry[1] = "w"
                entry[2].append(payload)
        if not files:
            return
        import csv  # imported on first push: importing databay.outlets stays cheap

        limit = csv.field_size_limit()
        plans = []
        for where, mode, payloads in files.values():
            columns, rows = _columns(payloads)  # column name -> key in the payloads
            if self.escape_formulas:
                columns = {_escape(name): key for name, key in columns.items()}
            if columns:
                plans.append((where, mode, columns, rows, limit))
        if not plans:
            return  # no columns at all: nothing to write
        with FileTransaction([plan[0] for plan in plans]) as transaction:
            writes = [self._plan_file(csv, transaction, *plan) for plan in plans]
            for where, replace, data in writes:  # every file encoded before any write
                if replace:
                    transaction.replace(where, data)
                else:
                    transaction.append(where, data)

    def _plan_file(self, csv: Any, transaction: FileTransaction, where: Target, mode: str,
                   columns: Dict[str, Any], rows: List[Mapping],
                   limit: int) -> Tuple[Target, bool, bytes]:
        """What to write to one file: ``(target, replace?, bytes)``, nothing written yet.

        Reads the existing header (and, when columns are added, the whole file)
        under the file's lock, so no other writer in the process changes it meanwhile.
        """
        import io

        existing = None if mode == "w" else transaction.read(where)
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        replace = mode == "w"
        if existing is None or os.fstat(existing.fileno()).st_size == 0:
            if existing is not None:
                existing.close()
            order = list(columns)
            writer.writerow(order)
        else:
            with io.TextIOWrapper(existing, encoding=self.encoding, newline="") as text:
                try:
                    reader = csv.reader(text)
                    header: List[str] = next(reader, [])
                    known = set(header)
                    added = [name for name in columns if name not in known]
                    old_rows = list(reader) if added else None
                except (csv.Error, UnicodeError) as error:
                    raise ValueError("CsvOutlet cannot read the existing file %r (%s: %s); "
                                     "nothing of this push was written"
                                     % (where.path, type(error).__name__, error)) from None
            order = header
            if old_rows is not None:  # a new column: rewrite the file with the wider header
                order = header + added
                width = len(header)
                padding = [""] * len(added)
                writer.writerow(order)
                writer.writerows(row + [""] * (width - len(row)) + padding if len(row) <= width
                                 else row for row in old_rows)
                replace = True
        start = out.tell()
        _write_rows(writer, [columns.get(name, _MISSING) for name in order], rows,
                    _escape if self.escape_formulas else None)
        if out.tell() - start > limit or any(len(name) > limit for name in columns):
            _check_sizes(where, columns, rows, limit)  # only then can one cell be too long
        return where, replace, self._encode(where, out.getvalue())

    def _encode(self, where: Target, text: str) -> bytes:
        if "\0" in text:
            raise ValueError("CsvOutlet cannot write a NUL character to %r: the csv module "
                             "cannot read it back; remove it in a processor (nothing of this "
                             "push was written)" % (where.path,))
        try:
            return text.encode(self.encoding)
        except UnicodeError as error:
            raise ValueError("CsvOutlet cannot write %r in encoding %r: %s; nothing of this "
                             "push was written" % (where.path, self.encoding, error)) from None

    def __repr__(self) -> str:
        return "CsvOutlet(default_filepath=%r, default_file_mode=%r)" % (
            self.default_filepath, self.default_file_mode)


def _columns(payloads: List[Mapping]) -> tuple:
    """The union of the payloads' keys as ``{column name: key}``, and the payloads.

    Payloads with non-str keys are replaced by copies keyed by ``str(key)``.
    """
    columns: Dict[str, Any] = {}
    rows: List[Mapping] = []
    last: Any = None
    convert = False
    for payload in payloads:
        keys = payload.keys()
        if keys != last:  # most payloads share their keys: check each distinct set once
            last = keys
            convert = not all(type(key) is str for key in keys)
            for key in keys:
                name = key if type(key) is str else str(key)
                columns.setdefault(name, name)
        if convert:
            payload = {str(key): value for key, value in payload.items()}
        rows.append(payload)
    return columns, rows


def _check_sizes(where: Target, columns: Dict[str, Any], rows: List[Mapping], limit: int) -> None:
    """Refuse a header or cell longer than the csv module reads back (``field_size_limit``)."""
    for name in columns:
        if len(name) > limit:
            raise ValueError("CsvOutlet refuses a column name of %d characters for %r: the csv "
                             "module reads fields up to %d (csv.field_size_limit()); nothing of "
                             "this push was written" % (len(name), where.path, limit))
    for index, row in enumerate(rows):
        for key, value in row.items():
            if isinstance(value, (int, float)) or value is None:
                continue
            size = len(value) if isinstance(value, str) else len(str(value))
            if size > limit:
                raise ValueError(
                    "CsvOutlet refuses the value of %r in row %d for %r: %d characters, but the "
                    "csv module reads fields up to %d (csv.field_size_limit()); shorten it in a "
                    "processor (nothing of this push was written)"
                    % (key, index, where.path, size, limit))


def _write_rows(writer: Any, keys: List[Any], rows: List[Mapping], escape: Any) -> None:
    if escape is None:
        writer.writerows([row.get(key, "") for key in keys] for row in rows)
    else:
        writer.writerows([escape(row.get(key, "")) for key in keys] for row in rows)


def _escape(value: Any) -> Any:
    """Prefix text that a spreadsheet would run as a formula with ``'``."""
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text
