"""databay: move data from inlets to outlets on a schedule.

Standard library only; relative imports throughout, so the folder also works
when copied into another package. The public API is ``__all__`` (also what
``dir(databay)`` lists) plus the subpackages ``databay.inlets``,
``databay.outlets``, ``databay.planners`` and ``databay.support``; modules
whose name starts with ``_`` are private. Reference: docs/api.md.
"""


from .errors import (
    DatabayError,
    ImplementationError,
    InvalidNodeError,
    MissingLinkError,
    PlannerStateError,
    RejectedRecords,
    ScheduleIntervalError,
)
from .inlet import Inlet
from .link import Link
from .outlet import MetadataKey, Outlet
from .record import Record
from .schedules import Cron, Every
from .update import Update

__version__ = "0.4.0"


def __getattr__(name: str) -> object:
    """Import ``BasePlanner``, ``Retry`` and the submodules 0.3.0 made attributes on first use:
    ``import databay`` loads only what every link needs (planners need ``threading``)."""
    if name == "BasePlanner":
        from .base_planner import BasePlanner

        return BasePlanner
    if name == "Retry":
        from .retry import Retry

        return Retry
    if name in ("base_planner", "misc", "retry"):  # submodules 0.3.0 code reaches as attributes
        import importlib

        return importlib.import_module("." + name, __name__)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def __dir__() -> list:
    """The public names only, so ``dir(databay)`` and ``help(databay)`` show no internals."""
    return sorted(__all__)

__all__ = [
    "BasePlanner",
    "Cron",
    "DatabayError",
    "Every",
    "ImplementationError",
    "Inlet",
    "InvalidNodeError",
    "Link",
    "MetadataKey",
    "MissingLinkError",
    "Outlet",
    "PlannerStateError",
    "Record",
    "RejectedRecords",
    "Retry",
    "ScheduleIntervalError",
    "Update",
    "__version__",
]
