"""Shared checks for the file-writing outlets: paths, ``base_dir``, modes, encodings."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

_MODES = {"a": "a", "at": "a", "a+": "a", "w": "w", "wt": "w", "w+": "w"}


def check_path(name: str, value: Any) -> Any:
    """Return ``value`` if it is a non-empty str or path-like object."""
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise TypeError("%s=%r must be a non-empty str or path-like object" % (name, value))
    return value


def check_base_dir(value: Any) -> Optional[str]:
    """Return ``base_dir`` resolved (symlinks included), or None when not given."""
    if value is None:
        return None
    check_path("base_dir", value)
    return os.path.realpath(os.fspath(value))


def check_mode(name: str, value: Any) -> str:
    """Return ``'a'`` or ``'w'`` from a text write mode such as ``'a'``, ``'w'`` or ``'w+'``."""
    mode = _MODES.get(value) if isinstance(value, str) else None
    if mode is None:
        raise ValueError("%s=%r must be 'a' (append) or 'w' (truncate once per push)"
                         % (name, value))
    return mode


def resolve(name: str, path: Any, base_dir: Optional[str]) -> str:
    """Return the file to open for ``path``; with ``base_dir`` it must stay inside it.

    Without ``base_dir`` the path is made absolute against the working
    directory (so ``x.csv`` and ``./x.csv`` are one file). With it, a relative
    path is taken relative to ``base_dir``, symlinks and ``..`` are resolved,
    and a result outside ``base_dir`` (an absolute path elsewhere, ``../x``, a
    symlink pointing out) is refused.
    """
    check_path(name, path)
    if base_dir is None:
        return os.path.abspath(os.fspath(path))
    target = os.path.realpath(os.path.join(base_dir, os.fspath(path)))
    if target == base_dir or os.path.commonpath([base_dir, target]) != base_dir:
        raise ValueError("%s=%r resolves to %r, outside base_dir=%r; only files inside "
                         "base_dir may be written" % (name, path, target, base_dir))
    return target


def make_parent(path: str) -> None:
    """Create the directories leading to ``path``, if missing."""
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)


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

    def __call__(self, path: Any) -> str:
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
