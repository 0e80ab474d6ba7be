"""FileOutlet: append (or write) each record's payload as a line of a text file."""

from __future__ import annotations

from .._validation import check_encoding
from ..outlet import MetadataKey, Outlet
from ._files import FileTransaction, Targets, check_base_dir, check_mode, check_path, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from typing import Callable, Dict, List, Union

    from ..record import Record
    from ..update import Update
    from ._files import Target

__all__ = ["FileOutlet"]


class FileOutlet(Outlet):
    """Writes ``str(record.payload)`` plus a newline per record to a text file.

    Records choose their file through metadata; each target file gets its
    records in order. Mode ``'w'`` replaces the file once per push, so the file
    then holds exactly that push's records (if any record of the push asks
    ``'w'`` for a file, the file is replaced). Records of one push for one file
    must agree on the encoding. Missing parent directories are created. A push
    with no records for a file leaves it alone.

    **All or nothing:** every line is encoded before anything is written;
    ``'w'`` goes through a temporary file and an atomic rename, and appends
    that fail (or that belong to a push whose other file failed) are
    truncated back, so a push that raises has written nothing. Writers of one
    file in this process take turns through one lock per file.

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
            to this directory and must stay inside it: ``..`` out, absolute paths
            elsewhere and paths through a symlink are refused with ValueError and
            nothing of the push is written. Files are opened relative to
            directory descriptors with ``O_NOFOLLOW``, so a directory swapped for
            a symlink meanwhile is refused too.

    Raises:
        TypeError/ValueError: an argument (or, at push, a metadata value, or a
            line the encoding cannot represent) is invalid; nothing of that
            push is written.
        OSError: (push) the system refused a write; nothing of that push stays written.
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

    def push(self, records: List[Record], update: Update) -> None:
        """Write the records, all or nothing; see the class docstring."""
        files: Dict[str, List] = {}  # path -> [target, mode, encoding, lines]
        target = Targets(self.FILEPATH, self.default_filepath, self.base_dir)
        for record in records:
            metadata = record.metadata
            where = target(metadata.get(self.FILEPATH))
            mode = metadata.get(self.FILE_MODE)
            mode = self.default_file_mode if mode is None else check_mode(self.FILE_MODE, mode)
            encoding = metadata.get(self.FILE_ENCODING)
            encoding = self.default_encoding if encoding is None else \
                check_encoding(self.FILE_ENCODING, encoding)
            entry = files.get(where.path)
            if entry is None:
                files[where.path] = [where, mode, encoding, [str(record.payload), "\n"]]
                continue
            if encoding != entry[2]:
                raise ValueError("records of one push ask for file %r in encodings %r and %r; "
                                 "use one encoding per file" % (where.path, entry[2], encoding))
            if mode == "w":
                entry[1] = "w"
            entry[3] += (str(record.payload), "\n")
        writes = [(where, mode, _encode(where, encoding, lines))
                  for where, mode, encoding, lines in files.values()]
        if not writes:
            return
        with FileTransaction([where for where, _, _ in writes]) as transaction:
            for where, mode, data in writes:
                if mode == "w":
                    transaction.replace(where, data)
                else:
                    transaction.append(where, data)

    def __repr__(self) -> str:
        return "FileOutlet(default_filepath=%r, default_file_mode=%r)" % (
            self.default_filepath, self.default_file_mode)


def _encode(target: Target, encoding: str, lines: List[str]) -> bytes:
    """The file's new text as bytes; ValueError (nothing written) if it cannot be encoded."""
    text = "".join(lines)
    try:
        return text.encode(encoding)
    except UnicodeError as error:
        raise ValueError("FileOutlet cannot write %r in encoding %r: %s; nothing of this push "
                         "was written" % (target.path, encoding, error)) from None
