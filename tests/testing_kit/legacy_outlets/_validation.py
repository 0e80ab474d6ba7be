"""The two argument checks the legacy outlets used, copied as they were on main (databay 0.4.0)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def check_encoding(name: str, value: Any) -> str:
    """Return ``value`` if Python knows the encoding."""
    if not isinstance(value, str):
        raise TypeError("%s=%r must be the name of a text encoding, e.g. 'utf-8'" % (name, value))
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError("%s=%r is not a known text encoding; use e.g. 'utf-8'"
                         % (name, value)) from None
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

