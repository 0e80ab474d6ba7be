"""databay's exceptions, all in one place.

The tree::

    DatabayError
    ├── InvalidNodeError       (also a RuntimeError, as in 0.3.0)
    ├── MissingLinkError       (also a RuntimeError, as in 0.3.0)
    ├── ImplementationError    (also a RuntimeError, as in 0.3.0)
    ├── PlannerStateError      (also a RuntimeError)
    ├── ScheduleIntervalError  (also a ValueError)
    ├── LinkKeyError           (also a ValueError)
    ├── ShardError             (also a RuntimeError)
    ├── RejectedRecords        (raised by an outlet: these records can never be delivered)
    └── NodeTimeoutError       (also a TimeoutError: a node call ran past ``Link(timeout=...)``)

Each subclass also inherits the builtin its 0.3.0 ancestor had, so
``except RuntimeError`` written for 0.3.0 keeps catching them. Misuse of an
argument raises a plain ``TypeError`` or ``ValueError`` (see ``_validation``).
"""


class DatabayError(Exception):
    """Root of every exception databay raises on its own behalf."""


class InvalidNodeError(DatabayError, RuntimeError):
    """An inlet or outlet cannot be added to or removed from a link."""


class MissingLinkError(DatabayError, RuntimeError):
    """A planner was asked about a link it does not hold."""


class ImplementationError(DatabayError, RuntimeError):
    """A user subclass breaks databay's contract (e.g. skipped ``super().__init__()``)."""


class PlannerStateError(DatabayError, RuntimeError):
    """A planner method was called in a state that does not allow it."""


class ScheduleIntervalError(DatabayError, ValueError):
    """A link's interval cannot be scheduled.

    Kept for 0.3.0 compatibility; ``SchedulePlanner`` accepts any positive
    interval, so it no longer raises this for short intervals.
    """


class LinkKeyError(DatabayError, ValueError):
    """A link has no key, or two links of one distributed run share a key."""


class ShardError(DatabayError, RuntimeError):
    """A shard of a distributed run failed to start, answer or stop."""


class RejectedRecords(DatabayError):
    """Raised by an outlet's ``push`` for records it can never deliver (e.g. a poison record).

    The records go to the link's dead letter (or are counted and logged) and
    are never retried; the rest of the batch counts as delivered, so one bad
    record does not block a retry queue. ``records`` may be the whole batch
    or a subset of it (the Record objects the outlet received).

    Args:
        records: the rejected Record objects (a list).
        reason: why, in words; it ends up in the dead letter's metadata.
    """

    def __init__(self, records: list, reason: str = "") -> None:
        if not isinstance(records, list):
            raise TypeError("RejectedRecords(records=%r): records must be a list of the rejected Records"
                            % (records,))
        super().__init__(records, reason)
        self.records = records
        self.reason = str(reason)

    def __str__(self) -> str:
        return "%d record(s) rejected%s" % (len(self.records), ": %s" % self.reason if self.reason else "")


class NodeTimeoutError(DatabayError, TimeoutError):
    """A node call ran past its link's ``timeout``, or the node is still busy with such a call.

    The abandoned call keeps running on its own thread; until it returns, the
    node's turn in later transfers fails fast with this error.
    """
