"""Public names: databay.__all__ and every 0.3.0 import path listed in docs/design.md."""

import importlib

import pytest

import databay

IMPORT_PATHS = [
    ("databay", ["Inlet", "Outlet", "Link", "Record", "Update", "BasePlanner"]),
    ("databay.link", ["Link", "Update"]),
    ("databay.inlet", ["Inlet"]),
    ("databay.outlet", ["Outlet", "MetadataKey"]),
    ("databay.record", ["Record"]),
    ("databay.update", ["Update"]),
    ("databay.base_planner", ["BasePlanner"]),
    ("databay.errors", ["MissingLinkError", "ImplementationError", "InvalidNodeError",
                        "DatabayError", "ScheduleIntervalError"]),
    ("databay.planners", ["SchedulePlanner", "ApsPlanner"]),
    ("databay.planners.schedule_planner", ["SchedulePlanner", "ScheduleIntervalError"]),
    ("databay.misc.logs", ["ISO8601Formatter", "enable_console_logging"]),
    ("databay.inlets", ["NullInlet", "RandomIntInlet", "FileInlet", "HttpInlet"]),
    ("databay.inlets.file_inlet", ["FileInletMode"]),
    ("databay.outlets", ["NullOutlet", "PrintOutlet", "FileOutlet", "CsvOutlet"]),
    ("databay.support.buffers", ["Buffer"]),
    ("databay.misc", ["inlet_tester"]),
    ("databay.misc.inlet_tester", ["InletTester"]),
    ("databay_testing", ["InletTester", "OutletTester", "strategies"]),
]


@pytest.mark.parametrize("module, names", IMPORT_PATHS, ids=[m for m, _ in IMPORT_PATHS])
def test_030_import_paths(module, names):
    """Every 0.3.0 import path in docs/design.md works and provides the listed names."""
    namespace = {}
    exec("from %s import %s" % (module, ", ".join(names)), namespace)
    assert all(namespace[name] is not None for name in names)
    assert importlib.import_module(module) is not None


def test_paths_give_the_same_objects():
    """Each class is one object whatever path it is imported from."""
    from databay.base_planner import BasePlanner
    from databay.errors import ScheduleIntervalError
    from databay.inlet import Inlet
    from databay.link import Link, Update
    from databay.outlet import MetadataKey, Outlet
    from databay.planners.schedule_planner import ScheduleIntervalError as PlannerScheduleIntervalError
    from databay.record import Record

    assert (databay.Inlet, databay.Outlet, databay.Link, databay.Record, databay.Update,
            databay.BasePlanner, databay.MetadataKey) == (
        Inlet, Outlet, Link, Record, Update, BasePlanner, MetadataKey)
    assert PlannerScheduleIntervalError is ScheduleIntervalError is databay.ScheduleIntervalError


def test_all_matches_public_names():
    """databay.__all__ lists exactly the public names the package exports, each once."""
    lazy = {"BasePlanner", "Retry"}  # provided by databay.__getattr__: `import databay` loads less
    public = {name for name, value in vars(databay).items()
              if not name.startswith("_") and not isinstance(value, type(databay))} | lazy
    assert len(databay.__all__) == len(set(databay.__all__))
    assert set(databay.__all__) - {"__version__"} == public
    for name in databay.__all__:
        assert hasattr(databay, name)


def test_star_import_gives_all():
    """from databay import * binds exactly __all__."""
    namespace = {}
    exec("from databay import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(databay.__all__)


def test_version_is_a_literal_string():
    """__version__ is a plain dotted version string defined in databay/__init__.py."""
    assert isinstance(databay.__version__, str)
    assert all(part.isdigit() for part in databay.__version__.split(".")[:2])
    with open(databay.__file__, encoding="utf-8") as source:
        assert '__version__ = "%s"' % databay.__version__ in source.read()


def test_metadata_key_is_a_str():
    """MetadataKey values are strings usable as metadata keys."""
    from databay.outlet import MetadataKey

    key = MetadataKey("Outlet.KEY")
    assert isinstance(key, str) and key == "Outlet.KEY"
    assert {key: 1}["Outlet.KEY"] == 1


def test_py_typed_shipped():
    """databay ships a py.typed marker."""
    import os

    assert os.path.exists(os.path.join(os.path.dirname(databay.__file__), "py.typed"))
