"""FileInlet: read a text file line by line, or whole, on each transfer."""

from __future__ import annotations

import os
import threading
from enum import Enum

from .._validation import check_encoding
from ..inlet import Inlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO, Any, Optional, Union

    from ..update import Update

__all__ = ["FileInlet", "FileInletMode"]


class FileInletMode(Enum):
    """How :class:`FileInlet` reads its file."""

    LINE = "line"
    """One line per transfer; the file stays open between ``on_start`` and ``on_shutdown``."""

    FILE = "file"
    """The whole file on every transfer; the file is open only during the pull."""


class FileInlet(Inlet):
    """Produces text read from ``filepath``.

    ``FileInletMode.LINE`` (default): ``on_start`` opens the file and each pull
    returns the next line *as read*, including its trailing newline (as in
    databay 0.3.0, so processors written for it keep working; an empty line in
    the file is the record ``'\\n'``). At end of file a pull returns ``[]``: no
    record, rather than an empty string. Lines appended later are picked up by
    later pulls. ``on_shutdown`` closes the file.

    ``FileInletMode.FILE``: each pull opens the file, returns its whole content
    as one record and closes it; an empty file gives no record.

    Args:
        filepath: path of the file to read (str or path-like).
        read_mode: a :class:`FileInletMode`, or its value ``'line'``/``'file'``.
        metadata: global metadata, as for every :class:`~databay.inlet.Inlet`.
        encoding: text encoding of the file (default ``'utf-8'``).

    Raises:
        TypeError/ValueError: an argument has the wrong type or value.
        FileNotFoundError: (from ``on_start`` or the pull) the file does not exist.
        RuntimeError: a LINE-mode pull before ``on_start`` (or after ``on_shutdown``).
    """

    def __init__(self, filepath: Union[str, os.PathLike], read_mode: Union[FileInletMode, str] =
                 FileInletMode.LINE, metadata: Optional[Mapping] = None, *,
                 encoding: str = "utf-8") -> None:
        if not isinstance(filepath, (str, os.PathLike)) or not os.fspath(filepath):
            raise TypeError("filepath=%r must be a non-empty str or path-like object" % (filepath,))
        try:
            read_mode = FileInletMode(read_mode)
        except ValueError:
            raise ValueError("read_mode=%r must be FileInletMode.LINE or FileInletMode.FILE"
                             % (read_mode,)) from None
        self.encoding = check_encoding("encoding", encoding)
        super().__init__(metadata)
        self.filepath = filepath
        self.read_mode = read_mode
        self._file: Optional[IO[str]] = None
        self._file_lock = threading.Lock()

    def pull(self, update: Update) -> Any:
        """Return the next line (LINE) or the whole file (FILE); ``[]`` when there is nothing."""
        if self.read_mode is FileInletMode.FILE:
            with open(self.filepath, encoding=self.encoding) as file:
                content = file.read()
            return content if content else []
        with self._file_lock:
            if self._file is None:
                raise RuntimeError(
                    "%r reads one line per pull from the file opened by on_start(); start the "
                    "inlet first (a planner does; by hand call inlet.try_start())" % (self,))
            line = self._file.readline()
        return line if line else []

    def on_start(self) -> None:
        """In LINE mode, open the file and keep it open until ``on_shutdown``."""
        if self.read_mode is FileInletMode.LINE:
            with self._file_lock:
                self._file = open(self.filepath, encoding=self.encoding)

    def on_shutdown(self) -> None:
        """In LINE mode, close the file."""
        with self._file_lock:
            file, self._file = self._file, None
        if file is not None:
            file.close()

    def __repr__(self) -> str:
        text = "FileInlet(filepath=%r, read_mode=%s" % (self.filepath, self.read_mode)
        if getattr(self, "_metadata", None):
            text += ", metadata=%r" % (self._metadata,)
        return text + ")"
