"""Shared machinery of the file-writing outlets.

Checked paths and modes, one lock per file in the process, confinement to
``base_dir`` that a path flipping to a symlink cannot escape, and
all-or-nothing writes (:class:`FileTransaction`).
"""

from __future__ import annotations

import os
import threading
import weakref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Dict, List, Optional, Tuple

_MODES = {"a": "a", "at": "a", "a+": "a", "w": "w", "wt": "w", "w+": "w"}
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# Without directory descriptors (e.g. Windows) confinement falls back to the path check alone.
_HAS_DIR_FD = os.open in os.supports_dir_fd and os.mkdir in os.supports_dir_fd and _NOFOLLOW != 0

_LOCKS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_LOCKS_GUARD = threading.Lock()


def check_path(name: str, value: Any) -> Any:
    """Return ``value`` if it is a non-empty str or path-like object without NUL bytes."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise TypeError("%s=%r must be a non-empty str or path-like object" % (name, value))
    text = os.fspath(value)
    if (b"\0" if isinstance(text, bytes) else "\0") in text:
        raise ValueError("%s=%r contains a NUL byte; give a file path without NUL" % (name, value))
    return value


def check_not_directory(name: str, value: Any, path: str) -> None:
    """Raise ValueError if ``path`` (what ``value`` resolved to) is an existing directory."""
    if os.path.isdir(path):
        raise ValueError("%s=%r is a directory (%r); give the path of a file" % (name, value, path))


def check_base_dir(value: Any) -> Optional[str]:
    """Return ``base_dir`` resolved (symlinks included), or None when not given."""
    if value is None:
        return None
    check_path("base_dir", value)
    resolved = os.path.realpath(os.fspath(value))
    if os.path.exists(resolved) and not os.path.isdir(resolved):
        raise ValueError("base_dir=%r is not a directory; give a directory (created if missing)"
                         % (value,))
    return resolved


def check_mode(name: str, value: Any) -> str:
    """Return ``'a'`` or ``'w'`` from a text write mode such as ``'a'``, ``'w'`` or ``'w+'``."""
    mode = _MODES.get(value) if isinstance(value, str) else None
    if mode is None:
        raise ValueError("%s=%r must be 'a' (append) or 'w' (replace once per push)"
                         % (name, value))
    return mode


class Target:
    """Where one file lives: ``path`` (absolute: the lock and the messages), the directory
    ``base`` opened first, the sub-directories ``parts`` below it and the file ``name``.

    With ``confined`` (a ``base_dir`` was given) every part and the file are opened
    relative to the previous directory's descriptor with ``O_NOFOLLOW``.
    """

    __slots__ = ("path", "base", "parts", "name", "confined")

    def __init__(self, path: str, base: str, parts: Tuple[str, ...], name: str,
                 confined: bool) -> None:
        self.path = path
        self.base = base
        self.parts = parts
        self.name = name
        self.confined = confined


def resolve(name: str, path: Any, base_dir: Optional[str]) -> Target:
    """Return the :class:`Target` for ``path``; with ``base_dir`` it must stay inside it.

    Without ``base_dir`` the path is made absolute against the working
    directory and its symlinks are resolved (so ``x.csv`` and ``./x.csv`` are
    one file, with one lock). With it, a relative path is taken relative to
    ``base_dir`` and ``..`` is resolved lexically; a result outside
    ``base_dir`` (an absolute path elsewhere, ``../x``) or a path through a
    symlink is refused: symlinks under ``base_dir`` are never followed.
    """
    check_path(name, path)
    text = os.fsdecode(os.fspath(path))
    if base_dir is None:
        real = os.path.realpath(os.path.abspath(text))
        check_not_directory(name, path, real)
        return Target(real, os.path.dirname(real), (), os.path.basename(real), False)
    joined = os.path.normpath(os.path.join(base_dir, text))
    if joined == base_dir or os.path.commonpath([base_dir, joined]) != base_dir:
        raise ValueError("%s=%r resolves to %r, outside base_dir=%r; only files inside "
                         "base_dir may be written" % (name, path, joined, base_dir))
    real = os.path.realpath(joined)
    if real != joined:
        where = "outside base_dir" if os.path.commonpath([base_dir, real]) != base_dir \
            else "inside base_dir, but"
        raise ValueError("%s=%r resolves through a symlink to %r (%s=%r); symlinks under "
                         "base_dir are never followed" % (name, path, real, where, base_dir))
    check_not_directory(name, path, joined)
    parts = tuple(os.path.relpath(joined, base_dir).split(os.sep))
    return Target(joined, base_dir, parts[:-1], parts[-1], True)


class Targets:
    """Resolves the paths records ask for during one push, each distinct value once.

    ``targets(None)`` is the outlet's default path; anything else comes from
    metadata ``key`` and goes through :func:`resolve`.
    """

    def __init__(self, key: str, default: Any, base_dir: Optional[str]) -> None:
        self._key = key
        self._default = default
        self._base_dir = base_dir
        self._cache: dict = {}

    def __call__(self, path: Any) -> Target:
        try:
            return self._cache[path]
        except KeyError:
            if path is None:
                target = resolve("default_filepath", self._default, self._base_dir)
            else:
                target = resolve(self._key, path, self._base_dir)
            self._cache[path] = target
            return target
        except TypeError:  # unhashable: resolve() raises the readable error
            return resolve(self._key, path, self._base_dir)


def _path_lock(path: str) -> Any:
    """The process-wide lock of the file at ``path`` (kept while anyone holds it)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(path)
        if lock is None:
            lock = _LOCKS[path] = threading.Lock()
        return lock


class FileTransaction:
    """All-or-nothing writes to the files of one push, under each file's process-wide lock.

    :meth:`append` writes at once and remembers the file's size, so a failure
    later in the push truncates the file back (or removes it if the push
    created it); :meth:`replace` writes a temporary file in the same directory,
    swapped in by an atomic ``os.replace`` only once every write succeeded.
    Use as a context manager: leaving it with an exception rolls back.
    """

    def __init__(self, targets: List[Target]) -> None:
        self._locks = [_path_lock(path) for path in sorted({target.path for target in targets})]
        self._dirs: Dict[str, int] = {}  # target path -> descriptor of its directory
        self._appended: List[Tuple[Target, int, int, bool]] = []  # target, fd, size, created
        self._staged: List[Tuple[Target, str]] = []  # target, temporary name

    def __enter__(self) -> FileTransaction:
        taken = []
        try:
            for lock in self._locks:  # sorted order: two pushes never wait on each other
                lock.acquire()
                taken.append(lock)
        except BaseException:
            for lock in reversed(taken):
                lock.release()
            raise
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        try:
            if kind is None:
                self._commit()
            else:
                self._rollback()
        finally:
            for _, fd, _, _ in self._appended:
                os.close(fd)
            for fd in self._dirs.values():
                os.close(fd)
            for lock in reversed(self._locks):
                lock.release()

    def read(self, target: Target) -> Optional[BinaryIO]:
        """The file opened for reading (binary), or None when it does not exist."""
        try:
            fd = self._open(target, os.O_RDONLY)
        except FileNotFoundError:
            return None
        return os.fdopen(fd, "rb")

    def append(self, target: Target, data: bytes) -> None:
        """Append ``data`` to the file (created if missing); undone if the push fails later."""
        created = False
        try:
            fd = self._open(target, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            fd = self._open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL)
            created = True
        size = os.fstat(fd).st_size
        self._appended.append((target, fd, size, created))
        _write_all(fd, data)

    def replace(self, target: Target, data: bytes) -> None:
        """Stage ``data`` as the file's whole new content (swapped in on success)."""
        directory = self._directory(target)
        name = ".%s.%s.databay-tmp" % (target.name[:64], os.urandom(6).hex())
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _CLOEXEC | _NOFOLLOW
        fd = os.open(name, flags, 0o666, dir_fd=directory) if _HAS_DIR_FD else \
            os.open(os.path.join(os.path.dirname(target.path), name), flags, 0o666)
        self._staged.append((target, name))
        try:
            try:
                mode = os.stat(target.name, dir_fd=directory, follow_symlinks=False).st_mode \
                    if _HAS_DIR_FD else os.stat(target.path).st_mode
                os.chmod(fd, mode & 0o7777)
            except FileNotFoundError:
                pass
            _write_all(fd, data)
        finally:
            os.close(fd)

    def _commit(self) -> None:
        done = 0
        try:
            for target, name in self._staged:
                if _HAS_DIR_FD:
                    directory = self._dirs[target.path]
                    os.replace(name, target.name, src_dir_fd=directory, dst_dir_fd=directory)
                else:
                    os.replace(os.path.join(os.path.dirname(target.path), name), target.path)
                done += 1
        except BaseException:
            del self._staged[:done]
            self._rollback()
            raise

    def _rollback(self) -> None:
        for target, fd, size, created in self._appended:
            try:
                if created:
                    self._unlink(target, target.name)
                else:
                    os.ftruncate(fd, size)
            except OSError:  # noqa: PERF203 - best effort: the original error is what matters
                pass
        for target, name in self._staged:
            try:
                self._unlink(target, name)
            except OSError:
                pass

    def _unlink(self, target: Target, name: str) -> None:
        if _HAS_DIR_FD:
            os.unlink(name, dir_fd=self._dirs[target.path])
        else:
            os.unlink(os.path.join(os.path.dirname(target.path), name))

    def _open(self, target: Target, flags: int) -> int:
        flags |= _CLOEXEC | (_NOFOLLOW if target.confined else 0)
        if not _HAS_DIR_FD:
            self._directory(target)  # creates the missing directories
            return os.open(target.path, flags, 0o666)
        try:
            return os.open(target.name, flags, 0o666, dir_fd=self._directory(target))
        except OSError as error:
            if target.confined and _is_symlink_error(error):
                raise _symlink_refused(target, target.name) from None
            raise

    def _directory(self, target: Target) -> int:
        """Descriptor of the directory holding ``target``, creating missing directories."""
        fd = self._dirs.get(target.path)
        if fd is not None:
            return fd
        os.makedirs(target.base, exist_ok=True)  # the file's directory, or base_dir itself
        if not _HAS_DIR_FD:  # confinement rests on the path check alone here
            os.makedirs(os.path.dirname(target.path), exist_ok=True)
            return -1
        fd = os.open(target.base, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        try:
            for part in target.parts:
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
                try:
                    inner = os.open(part, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC,
                                    dir_fd=fd)
                except OSError as error:
                    if _is_symlink_error(error):
                        raise _symlink_refused(target, part) from None
                    raise
                os.close(fd)
                fd = inner
        except BaseException:
            os.close(fd)
            raise
        self._dirs[target.path] = fd
        return fd


def _is_symlink_error(error: OSError) -> bool:
    import errno

    return error.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK)


def _symlink_refused(target: Target, part: str) -> ValueError:
    return ValueError("refused to write %r: %r under base_dir=%r is a symlink or not a "
                      "directory at write time; symlinks under base_dir are never followed "
                      "(nothing of this push was written)" % (target.path, part, target.base))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
