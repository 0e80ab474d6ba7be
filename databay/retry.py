"""Retry: how a link retries an outlet whose push failed (the policy, not the queue)."""

from __future__ import annotations

from ._validation import check_positive_int

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

__all__ = ["Retry"]


class Retry:
    """Capped exponential backoff with jitter, and a bound on what may wait.

    A batch an outlet failed to push waits in that outlet's own queue; later
    batches for that outlet queue behind it (order is kept per outlet) while
    the link keeps pulling and its other outlets keep receiving. The n-th
    consecutive failure of an outlet waits ``min(max_delay, first_delay *
    multiplier ** (n - 1))`` seconds, spread by ``± jitter`` (a fraction), before
    the queue is tried again. Retries ride on the link's own transfers and
    flushes: a retry falls due at the first transfer at most one interval
    before its backoff ends.

    Args:
        first_delay: seconds to wait after the first failure (>= 0).
        max_delay: the longest wait, in seconds (>= first_delay).
        multiplier: growth of the wait per consecutive failure (>= 1).
        jitter: relative spread of each wait, from 0 (none) to 1.
        attempts: how many times one batch is pushed at most, the first push
            included; then it goes to the dead letter. None: no limit.
        max_pending: records the queue may hold; beyond it the oldest are
            dropped (to the dead letter), counted and logged once per episode.

    Raises:
        TypeError / ValueError: an argument out of range (the message names it).
    """

    __slots__ = ("first_delay", "max_delay", "multiplier", "jitter", "attempts", "max_pending")

    def __init__(self, first_delay: float = 1, max_delay: float = 60, multiplier: float = 2,
                 jitter: float = 0.2, attempts: Optional[int] = None, max_pending: int = 10_000) -> None:
        self.first_delay = _number("first_delay", first_delay, 0.0, "a number of seconds >= 0")
        self.max_delay = _number("max_delay", max_delay, self.first_delay,
                                 "a number of seconds >= first_delay (%r)" % self.first_delay)
        self.multiplier = _number("multiplier", multiplier, 1.0, "a number >= 1")
        self.jitter = _number("jitter", jitter, 0.0, "a number from 0 to 1", upper=1.0)
        self.attempts = check_positive_int("attempts", attempts, allow_none=True)
        self.max_pending = check_positive_int("max_pending", max_pending)

    def delay(self, failures: int, spread: float = 0.5) -> float:
        """Seconds to wait after ``failures`` consecutive failures; ``spread`` in [0, 1) picks the jitter."""
        try:
            base = self.first_delay * self.multiplier ** (failures - 1)
        except OverflowError:
            base = self.max_delay
        return min(self.max_delay, base) * (1.0 + self.jitter * (2.0 * spread - 1.0))

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, Retry):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Retry(%s)" % ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.__slots__)


def _number(name: str, value: Any, lower: float, accepted: str, upper: Optional[float] = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("Retry(%s=%r): expected %s" % (name, value, accepted))
    if not (value >= lower) or (upper is not None and value > upper) or value == float("inf"):
        raise ValueError("Retry(%s=%r): expected %s" % (name, value, accepted))
    return float(value)
