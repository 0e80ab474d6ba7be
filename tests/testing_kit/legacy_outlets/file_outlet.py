"""FileOutlet: append (or write) each record's payload as a line of a text file."""

from __future__ import annotations

import threading

from databay import MetadataKey, Outlet

from ._validation import check_encoding
from ._files import Targets, check_base_dir, check_mode, check_path, make_parent, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from typing import Callable, Dict, List, Union

    from databay import Record, Update

__all__ = ["FileOutlet"]


class FileOutlet(Outlet):
    """Writes ``str(record.payload)`` plus a newline per record to a text file.

    Records choose their file through metadata; each target file is opened
    once per push and its records are written in order. Mode ``'w'`` truncates
    the file once per push, so the file then holds exactly that push's records
    (if any record of the push asks ``'w'`` for a file, the file is truncated).
    Records of one push for one file must agree on the encoding. Missing parent
    directories are created. A push with no records for a file leaves it alone.

    Metadata keys (all optional, per record):

    * ``FileOutlet.FILEPATH`` (:attr:`FILEPATH`): the file to write to.
    * ``FileOutlet.FILE_MODE`` (:attr:`FILE_MODE`): ``'a'`` (append) or ``'w'``.
    * ``FileOutlet.FILE_ENCODING`` (:attr:`FILE_ENCODING`): the text encoding.

    Args:
        default_filepath: file for records without ``FILEPATH``.
        default_file_mode: ``'a'`` (default) or ``'w'``.
        default_encoding: encoding for records without ``FILE_ENCODING`` (default ``'utf-8'``).
        processors: outlet processors, as for every :class:`~databay.outlet.Outlet`.
        base_dir: if given, every path (default and metadata) is taken relative
            to this directory and must resolve inside it: ``..``, absolute paths
            elsewhere and symlinks pointing out are refused with ValueError and
            nothing of the push is written.

    Raises:
        TypeError/ValueError: an argument (or, at push, a metadata value) is
            invalid; nothing of that push is written.
    """

    FILEPATH = MetadataKey("FileOutlet.FILEPATH")
    """Metadata key: path of the file to write the record to."""

    FILE_MODE = MetadataKey("FileOutlet.FILE_MODE")
    """Metadata key: ``'a'`` to append, ``'w'`` to truncate the file once per push."""

    FILE_ENCODING = MetadataKey("FileOutlet.FILE_ENCODING")
    """Metadata key: text encoding of the file."""

    def __init__(self, default_filepath: Union[str, os.PathLike], default_file_mode: str = "a",
                 default_encoding: str = "utf-8",
                 processors: Union[Callable, List[Callable], None] = None, *,
                 base_dir: Union[str, os.PathLike, None] = None) -> None:
        check_path("default_filepath", default_filepath)
        self.default_file_mode = check_mode("default_file_mode", default_file_mode)
        self.default_encoding = check_encoding("default_encoding", default_encoding)
        self.base_dir = check_base_dir(base_dir)
        resolve("default_filepath", default_filepath, self.base_dir)  # fail early if outside
        super().__init__(processors)
        self.default_filepath = default_filepath
        self._lock = threading.Lock()

    def push(self, records: List[Record], update: Update) -> None:
        """Write the records, opening each target file once; see the class docstring."""
        files: Dict[str, List] = {}  # path -> [mode, encoding, lines]
        target = Targets(self.FILEPATH, self.default_filepath, self.base_dir)
        for record in records:
            metadata = record.metadata
            path = target(metadata.get(self.FILEPATH))
            mode = metadata.get(self.FILE_MODE)
            mode = self.default_file_mode if mode is None else check_mode(self.FILE_MODE, mode)
            encoding = metadata.get(self.FILE_ENCODING)
            encoding = self.default_encoding if encoding is None else \
                check_encoding(self.FILE_ENCODING, encoding)
            entry = files.get(path)
            if entry is None:
                files[path] = [mode, encoding, [str(record.payload), "\n"]]
                continue
            if encoding != entry[1]:
                raise ValueError("records of one push ask for file %r in encodings %r and %r; "
                                 "use one encoding per file" % (path, entry[1], encoding))
            if mode == "w":
                entry[0] = "w"
            entry[2] += (str(record.payload), "\n")
        with self._lock:
            for path, (mode, encoding, lines) in files.items():
                make_parent(path)
                with open(path, mode, encoding=encoding) as file:
                    file.write("".join(lines))

    def __repr__(self) -> str:
        return "FileOutlet(default_filepath=%r, default_file_mode=%r)" % (
            self.default_filepath, self.default_file_mode)
