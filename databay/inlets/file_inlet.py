"""FileInlet: read a text file line by line, whole, or as a tail, on each transfer."""

from __future__ import annotations

import os
import threading
from enum import Enum

from .._validation import check_encoding, check_positive_int
from ..inlet import Inlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO, Any, Dict, List, Optional, Tuple, Union

    from ..update import Update

__all__ = ["FileInlet", "FileInletMode"]


class FileInletMode(Enum):
    """How :class:`FileInlet` reads its file."""

    LINE = "line"
    """One line per transfer; the file stays open between ``on_start`` and ``on_shutdown``."""

    FILE = "file"
    """The whole file on every transfer; the file is open only during the pull."""

    TAIL = "tail"
    """Every complete new line since the last transfer, following the file like ``tail -F``."""


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

    ``FileInletMode.TAIL``: each pull returns every complete line added since
    the previous pull, one record per line, without its line ending (``\\n``
    or ``\\r\\n``), at most ``max_lines`` per pull (the rest comes next time).
    The file is followed like ``tail -F``:

    * a line still being written (no newline yet) is held until its newline arrives;
    * a file that does not exist yet (or is gone for a while) gives no records
      until it appears;
    * truncation (the file became shorter than what was read) restarts at its top;
    * rename-rotation (a new file at ``filepath``): the rest of the old file is
      read first (an unfinished last line of it counts as a line), then the new
      file from its top;
    * bytes that are not valid in ``encoding`` become U+FFFD instead of
      stopping the tail.

    The read position survives ``on_shutdown``/``on_start`` of the same inlet.
    With ``offset_file`` it survives a restart of the process too: the position
    after a pull's lines is written there (atomically) once that pull's records
    are delivered (:meth:`on_delivered`), so a restart resumes after the last
    delivered line: lines pulled but not delivered are read again, never lost.
    Without a saved position, reading starts at the top of the file (or at its
    end with ``from_end=True``).

    Args:
        filepath: path of the file to read (str or path-like).
        read_mode: a :class:`FileInletMode`, or its value ``'line'``/``'file'``/``'tail'``.
        metadata: global metadata, as for every :class:`~databay.inlet.Inlet`.
        encoding: text encoding of the file (default ``'utf-8'``).
        max_lines: TAIL mode: most lines returned by one pull (default 1000).
        offset_file: TAIL mode: file keeping the delivered position, or None.
        from_end: TAIL mode: without a saved position, skip what the file holds at start.

    Raises:
        TypeError/ValueError: an argument has the wrong type or value.
        FileNotFoundError: (LINE and FILE modes, from ``on_start`` or the pull)
            the file does not exist.
        RuntimeError: a LINE-mode pull before ``on_start`` (or after ``on_shutdown``).
    """

    def __init__(self, filepath: Union[str, os.PathLike], read_mode: Union[FileInletMode, str] =
                 FileInletMode.LINE, metadata: Optional[Mapping] = None, *,
                 encoding: str = "utf-8", max_lines: int = 1000,
                 offset_file: Union[str, os.PathLike, None] = None,
                 from_end: bool = False) -> None:
        _check_file_path("filepath", filepath)
        try:
            read_mode = FileInletMode(read_mode)
        except ValueError:
            raise ValueError("read_mode=%r must be FileInletMode.LINE, FileInletMode.FILE or "
                             "FileInletMode.TAIL" % (read_mode,)) from None
        self.encoding = check_encoding("encoding", encoding)
        check_positive_int("max_lines", max_lines)
        if offset_file is not None:
            _check_file_path("offset_file", offset_file)
            if read_mode is not FileInletMode.TAIL:
                raise ValueError("offset_file=%r applies only to read_mode=FileInletMode.TAIL "
                                 "(read_mode is %s)" % (offset_file, read_mode))
        if not isinstance(from_end, bool):
            raise TypeError("from_end=%r must be True or False" % (from_end,))
        super().__init__(metadata)
        self.filepath = filepath
        self.read_mode = read_mode
        self.max_lines = max_lines
        self.offset_file = offset_file
        self.from_end = from_end
        self._file: Optional[IO[str]] = None
        self._file_lock = threading.Lock()
        self._tail: Optional[_Tail] = None

    def pull(self, update: Update) -> Any:
        """Return the next line (LINE), the whole file (FILE) or the new lines (TAIL)."""
        if self.read_mode is FileInletMode.FILE:
            with open(self.filepath, encoding=self.encoding) as file:
                content = file.read()
            return content if content else []
        with self._file_lock:
            if self.read_mode is FileInletMode.TAIL:
                if self._tail is None:
                    self._tail = _Tail(self)
                return self._tail.pull(update)
            if self._file is None:
                raise RuntimeError(
                    "%r reads one line per pull from the file opened by on_start(); start the "
                    "inlet first (a planner does; by hand call inlet.try_start())" % (self,))
            line = self._file.readline()
        return line if line else []

    def on_start(self) -> None:
        """LINE mode: open the file. TAIL mode: load the saved position (if any)."""
        if self.read_mode is FileInletMode.LINE:
            with self._file_lock:
                self._file = open(self.filepath, encoding=self.encoding)
        elif self.read_mode is FileInletMode.TAIL:
            with self._file_lock:
                if self._tail is None:
                    self._tail = _Tail(self)

    def on_delivered(self, update: Update) -> None:
        """TAIL mode with ``offset_file``: save the position after ``update``'s lines."""
        tail = self._tail
        if tail is not None:
            tail.delivered(update)

    def on_shutdown(self) -> None:
        """Close the file (TAIL mode keeps its position in memory for the next start)."""
        with self._file_lock:
            file, self._file = self._file, None
            if self._tail is not None:
                self._tail.close()
        if file is not None:
            file.close()

    def __repr__(self) -> str:
        text = "FileInlet(filepath=%r, read_mode=%s" % (self.filepath, self.read_mode)
        if getattr(self, "_metadata", None):
            text += ", metadata=%r" % (self._metadata,)
        return text + ")"


def _check_file_path(name: str, value: Any) -> None:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise TypeError("%s=%r must be a non-empty str or path-like object" % (name, value))
    text = os.fspath(value)
    if (b"\0" if isinstance(text, bytes) else "\0") in text:
        raise ValueError("%s=%r contains a NUL byte; give a file path without NUL" % (name, value))
    if os.path.isdir(text):
        raise ValueError("%s=%r is a directory; give the path of a file" % (name, value))


class _Tail:
    """TAIL mode's state: the open file, its identity, the position and held bytes.

    ``consumed`` is the offset just after the last line returned; ``buffer``
    holds the bytes read after it (complete lines beyond ``max_lines`` and a
    partial line). Callers hold the inlet's lock.
    """

    _CHUNK = 64 * 1024
    _PENDING = 1024  # positions of pulls awaiting on_delivered that are remembered

    def __init__(self, inlet: FileInlet) -> None:
        self.inlet = inlet
        self.path = os.fspath(inlet.filepath)
        self.file: Optional[IO[bytes]] = None
        self.identity: Optional[Tuple[int, int]] = None
        self.consumed = 0
        self.buffer = b""
        self.started = False  # the first open decides where reading starts
        self.saved = self._load()  # (identity, offset) or None
        self.pending: Dict[Update, Tuple[int, Tuple[int, int], int]] = {}
        self.sequence = 0
        self.committed = 0
        self.commit_lock = threading.Lock()

    def pull(self, update: Update) -> List[str]:
        lines: List[bytes] = []
        limit = self.inlet.max_lines
        while len(lines) < limit:
            if self.file is None and not self._open():
                break
            current = self._identity_at_path()
            self._check_truncation()
            more = self._read(limit - len(lines))
            lines.extend(more)
            if len(lines) >= limit:
                break
            if current is not None and current == self.identity:
                break  # no rotation: everything available was read
            if current is None:
                break  # the file is gone for now: keep it open, wait for a new one
            if self.buffer:  # rotated: the old file's unfinished last line is a line
                lines.append(self.buffer)
            self.close()
            self.started = True
            self.saved = None
            self.consumed, self.buffer, self.identity = 0, b"", None
        if self.identity is not None:
            self.sequence += 1
            self.pending[update] = (self.sequence, self.identity, self.consumed)
            if len(self.pending) > self._PENDING:
                del self.pending[next(iter(self.pending))]
        encoding = self.inlet.encoding
        return [_strip(line).decode(encoding, "replace") for line in lines]

    def delivered(self, update: Update) -> None:
        entry = self.pending.pop(update, None)
        if entry is None or self.inlet.offset_file is None:
            return
        sequence, identity, offset = entry
        with self.commit_lock:
            if sequence <= self.committed:
                return  # a later pull's position is already saved
            self.committed = sequence
            _save_offset(self.inlet.offset_file, identity, offset)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
            if self.identity is not None:  # the next start resumes here
                self.saved = (self.identity, self.consumed)
                self.buffer = b""

    def _open(self) -> bool:
        try:
            file = open(self.path, "rb")
        except FileNotFoundError:
            return False
        stat = os.fstat(file.fileno())
        identity = (stat.st_dev, stat.st_ino)
        offset = 0
        if self.saved is not None and self.saved[0] == identity and self.saved[1] <= stat.st_size:
            offset = self.saved[1]
        elif self.saved is None and not self.started and self.inlet.from_end:
            offset = stat.st_size
        self.started = True
        self.saved = None
        file.seek(offset)
        self.file, self.identity, self.consumed, self.buffer = file, identity, offset, b""
        return True

    def _identity_at_path(self) -> Optional[Tuple[int, int]]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def _check_truncation(self) -> None:
        assert self.file is not None
        size = os.fstat(self.file.fileno()).st_size
        if size < self.consumed + len(self.buffer):  # truncated: start again at the top
            self.file.seek(0)
            self.consumed, self.buffer = 0, b""

    def _read(self, wanted: int) -> List[bytes]:
        """Up to ``wanted`` complete lines from the buffer and the file."""
        assert self.file is not None
        buffer = self.buffer
        while buffer.count(b"\n") < wanted:
            chunk = self.file.read(self._CHUNK)
            if not chunk:
                break
            buffer += chunk
        lines: List[bytes] = []
        start = 0
        while len(lines) < wanted:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            lines.append(buffer[start:end])
            start = end + 1
        self.consumed += start
        self.buffer = buffer[start:]
        return lines

    def _load(self) -> Optional[Tuple[Tuple[int, int], int]]:
        path = self.inlet.offset_file
        if path is None:
            return None
        import json

        try:
            with open(path, encoding="utf-8") as file:
                saved = json.load(file)
            return (int(saved["device"]), int(saved["inode"])), int(saved["offset"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError("offset_file=%r does not hold a saved position (%s: %s); remove it "
                             "to start afresh" % (path, type(error).__name__, error)) from None


def _strip(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


def _save_offset(path: Any, identity: Tuple[int, int], offset: int) -> None:
    """Write the position atomically: a temporary file beside ``path``, then a rename."""
    import json

    path = os.fspath(path)
    temporary = "%s.%d.tmp" % (path, os.getpid())
    with open(temporary, "w", encoding="utf-8") as file:
        json.dump({"device": identity[0], "inode": identity[1], "offset": offset}, file)
    os.replace(temporary, path)
