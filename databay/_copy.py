"""Fast deep copies of record payloads.

``copy.deepcopy`` spends most of its time dispatching on types that cannot
change (int, str, ...). This copier handles the shapes records usually carry
(dicts and lists of scalars) directly and hands everything else to
``copy.deepcopy`` with the same memo, so shared references inside one batch
stay shared in the copy and custom ``__deepcopy__`` methods are honoured.

Originals are not kept alive through the memo (``copy.deepcopy`` does that for
temporaries it creates itself); callers copy objects they hold references to.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_IMMUTABLE = frozenset({int, float, str, bool, type(None), bytes, complex, range, type(Ellipsis)})


def copy_value(value: Any, memo: dict) -> Any:
    """Return a deep copy of ``value``; ``memo`` maps ``id(original)`` to its copy."""
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict:
        done = memo.get(id(value))
        if done is not None:
            return done
        new = value.copy()  # in C; then only what is not immutable is replaced
        memo[id(value)] = new
        for key, item in value.items():
            if type(key) not in _IMMUTABLE:
                return _copy_dict(value, new, memo)
            if type(item) not in _IMMUTABLE:
                new[key] = copy_value(item, memo)
        return new
    if kind is list:
        done = memo.get(id(value))
        if done is not None:
            return done
        new_list: list = []
        memo[id(value)] = new_list
        new_list.extend([item if type(item) in _IMMUTABLE else copy_value(item, memo)
                         for item in value])
        return new_list
    return _deepcopy(value, memo)


def _copy_dict(value: dict, new: dict, memo: dict) -> dict:
    """Fill ``new`` (already in the memo) with a copy of ``value`` whose keys need copying too."""
    new.clear()
    for key, item in value.items():
        if type(key) not in _IMMUTABLE:
            key = _deepcopy(key, memo)
        new[key] = item if type(item) in _IMMUTABLE else copy_value(item, memo)
    return new


def _deepcopy(value: Any, memo: dict) -> Any:
    import copy  # only for the rare shapes handled above

    return copy.deepcopy(value, memo)
