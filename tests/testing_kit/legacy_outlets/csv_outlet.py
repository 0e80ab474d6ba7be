"""CsvOutlet: write dict payloads as rows of CSV files, one open per file per push."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from databay import MetadataKey, Outlet

from ._validation import check_dict_payload, check_encoding
from ._files import Targets, check_base_dir, check_mode, check_path, make_parent, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any, Callable, Dict, List, Optional, Union

    from databay import Record, Update

__all__ = ["CsvOutlet"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MISSING = object()  # a key no payload has: its column is filled with ''


class CsvOutlet(Outlet):
    """Writes each record's dict payload as one CSV row.

    Each target file is opened once per push. A new or empty file gets a
    header first. Mode ``'w'`` truncates the file once per push, so it then
    holds a header and exactly that push's rows (if any record of the push
    asks ``'w'`` for a file, the file is truncated).

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
        base_dir: if given, every path (default and metadata) is taken relative
            to this directory and must resolve inside it: ``..``, absolute paths
            elsewhere and symlinks pointing out are refused with ValueError and
            nothing of the push is written.
        escape_formulas: neutralise spreadsheet formula injection: a header or
            text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
            return is written with a leading ``'``. Numbers (int, float) are
            never changed, but text such as ``'-5'`` is.

    Raises:
        TypeError/ValueError: an argument (or, at push, a payload or a
            metadata value) is invalid; nothing of that push is written.
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
        self._lock = threading.Lock()

    def push(self, records: List[Record], update: Update) -> None:
        """Write the records, opening each target file once; see the class docstring."""
        files: Dict[str, List[Any]] = {}  # path -> [mode, payloads]
        target = Targets(self.CSV_FILE, self.default_filepath, self.base_dir)
        for index, record in enumerate(records):
            payload = record.payload
            check_dict_payload("CsvOutlet", "writes one row per", index, update, payload)
            metadata = record.metadata
            path = target(metadata.get(self.CSV_FILE))
            mode = metadata.get(self.FILE_MODE)
            mode = self.default_file_mode if mode is None else check_mode(self.FILE_MODE, mode)
            entry = files.get(path)
            if entry is None:
                files[path] = [mode, [payload]]
            else:
                if mode == "w":
                    entry[0] = "w"
                entry[1].append(payload)
        if not files:
            return
        import csv  # imported on first push: importing databay.outlets stays cheap

        with self._lock:
            for path, (mode, payloads) in files.items():
                self._write_file(csv, path, mode, payloads)

    def _write_file(self, csv: Any, path: str, mode: str, payloads: List[Mapping]) -> None:
        columns, rows = _columns(payloads)  # column name -> key in the payloads
        escape = _escape if self.escape_formulas else None
        if escape is not None:
            columns = {escape(name): key for name, key in columns.items()}
        make_parent(path)
        with open(path, mode + "+", newline="", encoding=self.encoding) as file:
            header: Optional[List[str]] = None
            if mode == "a" and file.seek(0, os.SEEK_END) != 0:
                file.seek(0)
                header = next(csv.reader(file), [])
            if header is None:
                header = list(columns)
                if not header:
                    return  # no columns at all: nothing to write
                csv.writer(file).writerow(header)
            else:
                known = set(header)
                added = [name for name in columns if name not in known]
                if added:
                    self._widen(csv, file, path, header, added, columns, rows, escape)
                    return
                file.seek(0, os.SEEK_END)
            _write_rows(csv.writer(file), [columns.get(name, _MISSING) for name in header],
                        rows, escape)

    def _widen(self, csv: Any, file: IO[str], path: str, header: List[str], added: List[str],
               columns: Dict[str, Any], rows: List[Mapping], escape: Any) -> None:
        """Rewrite ``path`` with ``added`` columns appended to its header, then the new rows."""
        import tempfile

        full = header + added
        padding = [""] * len(added)
        directory = os.path.dirname(path) or "."
        handle, temporary = tempfile.mkstemp(prefix=".databay-", suffix=".csv.tmp", dir=directory)
        try:
            with open(handle, "w", newline="", encoding=self.encoding) as out:
                writer = csv.writer(out)
                writer.writerow(full)
                width = len(header)
                writer.writerows(row + [""] * (width - len(row)) + padding if len(row) <= width
                                 else row for row in csv.reader(file))
                _write_rows(writer, [columns.get(name, _MISSING) for name in full], rows, escape)
            os.chmod(temporary, os.stat(path).st_mode & 0o7777)
            file.close()
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise

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
