"""databay's exceptions, all in one place.

The tree::

    DatabayError
    ├── InvalidNodeError       (also a RuntimeError, as in 0.3.0)
    ├── MissingLinkError       (also a RuntimeError, as in 0.3.0)
    ├── ImplementationError    (also a RuntimeError, as in 0.3.0)
    ├── PlannerStateError      (also a RuntimeError)
    ├── ScheduleIntervalError  (also a ValueError)
    ├── LinkKeyError           (also a ValueError)
    └── ShardError             (also a RuntimeError)

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
