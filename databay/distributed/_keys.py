"""Which shard owns a link: a stable hash of ``link.key``, the same in every process.

Python's ``hash()`` of a str is salted per process, so it cannot agree
between a driver and its shards or survive a restart. The key is hashed with
BLAKE2b and mapped to a shard with jump consistent hashing (Lamping & Veach,
2014): keys spread evenly, and growing a run from n to n + 1 shards moves only
about 1/(n + 1) of the links.
"""

from __future__ import annotations

import hashlib

from ..errors import LinkKeyError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, List

__all__ = ["shard_of", "links_of_shard"]

_MASK64 = (1 << 64) - 1


def shard_of(key: str, nshards: int) -> int:
    """The shard in ``range(nshards)`` that owns the link with ``key``.

    Raises:
        TypeError: ``key`` is not a str or ``nshards`` not an int.
        ValueError: ``nshards`` < 1.
    """
    if not isinstance(key, str):
        raise TypeError("key=%r must be a str (a Link's key)" % (key,))
    if isinstance(nshards, bool) or not isinstance(nshards, int):
        raise TypeError("nshards=%r must be an int >= 1" % (nshards,))
    if nshards < 1:
        raise ValueError("nshards=%r must be an int >= 1" % (nshards,))
    state = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")
    shard, candidate = -1, 0
    while candidate < nshards:
        shard = candidate
        state = (state * 2862933555777941757 + 1) & _MASK64
        candidate = int((shard + 1) * ((1 << 31) / ((state >> 33) + 1)))
    return shard


def links_of_shard(links: Any, shard: int, nshards: int) -> List[Any]:
    """The links of ``links`` that ``shard`` owns, after checking every key.

    Every link must have a non-empty key, unique among ``links`` (all the
    links a factory returned, whichever shard they belong to).

    Raises:
        TypeError: ``links`` is not a Link or a list of Links.
        LinkKeyError: a link has no key, or two links share one.
    """
    from ..link import Link

    items = list(links) if isinstance(links, (list, tuple)) else [links]
    seen: dict = {}
    for link in items:
        if not isinstance(link, Link):
            raise TypeError("the factory returned %r; it must return a Link or a list of Links"
                            % (link,))
        key = link.key
        if not key:
            raise LinkKeyError("%r has no key: give it tags or key=... so it can be assigned to "
                               "a shard" % (link,))
        if key in seen:
            raise LinkKeyError("two links share the key %r: %r and %r; keys must be unique within "
                               "a run (set key=... on one of them)" % (key, seen[key], link))
        seen[key] = link
    return [link for link in items if shard_of(link.key, nshards) == shard]
