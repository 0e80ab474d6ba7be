"""Argument checks shared by the public constructors.

Every message names the parameter, shows the value given and says what is
accepted, e.g. ``interval=-1 must be a positive number of seconds or a timedelta``.
"""

from __future__ import annotations

import sys
from _thread import TIMEOUT_MAX as _TIMEOUT_MAX  # builtin: threading's limit without importing threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List


def check_positive_int(name: str, value: Any, *, allow_none: bool = False) -> Any:
    """Return ``value`` if it is an int >= 1 (or None when ``allow_none``)."""
    if value is None and allow_none:
        return None
    accepted = "an int >= 1" + (" or None" if allow_none else "")
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s=%r must be %s" % (name, value, accepted))
    if value < 1:
        raise ValueError("%s=%r must be %s" % (name, value, accepted))
    return value


def to_seconds(name: str, value: Any, *, allow_none: bool = False) -> Any:
    """Return a positive number of seconds from a timedelta, int or float.

    The largest value accepted is ``threading.TIMEOUT_MAX`` (about 292 years on
    Linux): anything longer cannot be waited for, and ``1e300`` would not even
    fit in a timedelta. ``None`` is returned as is when ``allow_none``.
    """
    if value is None and allow_none:
        return None
    kind = type(value)
    if kind is int or kind is float:  # the usual value, without the lookups below
        seconds = float(value) if kind is float or -_TIMEOUT_MAX <= value <= _TIMEOUT_MAX else None
        if seconds is not None and 0 < seconds <= _TIMEOUT_MAX:
            return seconds
    datetime = sys.modules.get("datetime")  # a timedelta implies datetime was imported
    if datetime is not None and isinstance(value, datetime.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            raise ValueError("%s=%s must be %s" % (name, short_repr(value), _seconds_accepted(allow_none))) \
                from None
    else:
        raise TypeError("%s=%s must be %s" % (name, short_repr(value), _seconds_accepted(allow_none)))
    if not 0 < seconds <= _TIMEOUT_MAX:  # also rejects NaN and infinity
        raise ValueError("%s=%s must be %s" % (name, short_repr(value), _seconds_accepted(allow_none)))
    return seconds


def _seconds_accepted(allow_none: bool) -> str:
    """What :func:`to_seconds` accepts, for its error messages."""
    return "a positive number of seconds up to %g or a timedelta%s" % (
        _TIMEOUT_MAX, " or None" if allow_none else "")


def to_tags(name: str, value: Any) -> List[str]:
    """Return tags as a new list of str from None, a str or a list/tuple of str."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(tag, str) for tag in value):
        return list(value)
    raise TypeError("%s=%r must be a str, a list of str or None" % (name, value))


def to_callables(name: str, value: Any) -> List[Callable]:
    """Return a new list of callables from None, one callable or a list of callables."""
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    for item in items:
        if not callable(item):
            raise TypeError("%s=%r must be a callable or a list of callables; %r is not callable"
                            % (name, value, item))
    return list(items)


def check_mapping(name: str, value: Any) -> Any:
    """Return ``value`` if it is a mapping or None."""
    if value is None or isinstance(value, dict):
        return value
    from collections.abc import Mapping  # imported late: it costs ~2 ms at start-up

    if not isinstance(value, Mapping):
        raise TypeError("%s=%r must be a mapping (e.g. a dict) or None" % (name, value))
    return value


def to_list(value: Any) -> list:
    """Return ``value`` as a new list: a list or tuple is copied, anything else wrapped."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def check_encoding(name: str, value: Any) -> str:
    """Return ``value`` if Python knows the encoding."""
    if not isinstance(value, str):
        raise TypeError("%s=%r must be the name of a text encoding, e.g. 'utf-8'" % (name, value))
    import codecs

    try:
        info = codecs.lookup(value)
    except LookupError:
        raise ValueError("%s=%r is not a known text encoding; use e.g. 'utf-8'"
                         % (name, value)) from None
    if not getattr(info, "_is_text_encoding", True):  # 'hex', 'rot13', 'base64', 'zlib'...
        raise ValueError("%s=%r is a codec but not a text encoding (str to bytes); use e.g. "
                         "'utf-8'" % (name, value))
    return value


def check_dict_payload(outlet: str, action: str, index: int, update: Any, payload: Any) -> None:
    """Raise TypeError unless ``payload`` (record ``index`` of ``update``) is a mapping.

    ``action`` says what ``outlet`` does with each dict, e.g. "writes one row per".
    """
    if isinstance(payload, dict):
        return
    from collections.abc import Mapping

    if not isinstance(payload, Mapping):
        raise TypeError(
            "%s %s dict payload, but record %d of update %s has payload %.80r (%s); turn it "
            "into a dict in a processor first" % (outlet, action, index, update, payload,
                                                  type(payload).__name__))


def short_repr(value: Any, limit: int = 80, render: Any = repr) -> str:
    """``render(value)`` (default ``repr``), cut to ``limit`` characters for messages.

    A ``render`` that raises gives ``<TypeName>``: describing a value never fails.
    """
    try:
        text = render(value)
    except Exception:  # noqa: BLE001 - a broken __repr__/__str__ must not break a message
        text = "<%s>" % type(value).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def without_password(netloc: str, mask: str = "***") -> str:
    """A URL's ``user:password@host`` part with the password shown as ``mask``."""
    if "@" not in netloc:
        return netloc
    user, _, host = netloc.rpartition("@")
    name, colon, _ = user.partition(":")
    return name + (":" + mask if colon else "") + "@" + host


def check_processor_result(processor: Any, result: Any, owner: Any = None) -> None:
    """Raise TypeError unless a processor (of ``owner``, if given) returned a list."""
    if not isinstance(result, list):
        where = "" if owner is None else " of %r" % (owner,)
        raise TypeError("processor %r%s returned %s; a processor must return a list of records"
                        % (processor, where, short_repr(result)))


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` if it is a real bool; TypeError naming ``name`` otherwise.

    ``"false"`` or ``0`` would silently mean something else, so they are refused.
    """
    if value is not True and value is not False:
        raise TypeError("%s=%r must be True or False" % (name, value))
    return value


def check_retry(value: Any, outlets: List[Any]) -> Any:
    """Return ``Link(retry=value)`` if valid: None, a Retry, or a dict of outlet (or None) → Retry or None."""
    from .retry import Retry

    if value is None or isinstance(value, Retry):
        return value
    accepted = ("None, a Retry, or a dict mapping outlets of this link (and None, for every other "
                "outlet) to a Retry or None")
    if not isinstance(value, dict):
        raise TypeError("retry=%r must be %s" % (value, accepted))
    for outlet, policy in value.items():
        if outlet is not None and not any(outlet is other for other in outlets):
            raise ValueError("retry=%r: %r is not an outlet of this link; accepted: %s"
                             % (value, outlet, accepted))
        if policy is not None and not isinstance(policy, Retry):
            raise TypeError("retry=%r: %r for %r is not a Retry; accepted: %s"
                            % (value, policy, outlet, accepted))
    return dict(value)


def check_timeout(name: str, value: Any) -> Any:
    """Return ``value`` if it is None or a number of seconds > 0 that a thread can wait for."""
    if value is None:
        return None
    import threading

    accepted = "None or a number of seconds > 0 and <= %g" % threading.TIMEOUT_MAX
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("%s=%r must be %s" % (name, value, accepted))
    if not 0 < value <= threading.TIMEOUT_MAX:  # also refuses NaN
        raise ValueError("%s=%r must be %s" % (name, value, accepted))
    return float(value)
