"""Import paths, real classes and lazy optional imports of the built-in nodes."""

import subprocess
import sys

import pytest

from databay import Inlet, Outlet


def test_0_3_0_import_paths():
    """Every 0.3.0 import path of the built-in nodes and Buffer works."""
    from databay.inlets import FileInlet, HttpInlet, NullInlet, RandomIntInlet  # noqa: F401
    from databay.inlets.file_inlet import FileInletMode  # noqa: F401
    from databay.outlets import CsvOutlet, FileOutlet, NullOutlet, PrintOutlet  # noqa: F401
    from databay.support.buffers import Buffer  # noqa: F401


def test_every_node_is_a_real_subclassable_class():
    """Built-in nodes are real Inlet/Outlet subclasses (no stand-in functions), and subclassable."""
    import databay.inlets as inlets
    import databay.outlets as outlets

    for name in inlets.__all__:
        node = getattr(inlets, name)
        assert isinstance(node, type) and (name == "FileInletMode" or issubclass(node, Inlet))
    for name in outlets.__all__:
        assert isinstance(getattr(outlets, name), type) and issubclass(getattr(outlets, name), Outlet)

    class MyHttp(inlets.HttpInlet):
        pass

    class MySqlite(outlets.SqliteOutlet):
        pass

    assert MyHttp("http://127.0.0.1/").url == "http://127.0.0.1/"
    assert MySqlite("x.db", "t").table == "t"


def test_sqlite_outlet_without_sqlite3_fails_at_construction(monkeypatch):
    """Without sqlite3, SqliteOutlet is still a class; constructing it raises ImportError naming sqlite3."""
    from databay.outlets import SqliteOutlet

    monkeypatch.setitem(sys.modules, "sqlite3", None)
    with pytest.raises(ImportError, match="sqlite3"):
        SqliteOutlet("x.db", "t")


def test_modules_have_all_matching_exports():
    """__all__ of the node packages lists exactly their public names."""
    import databay.inlets as inlets
    import databay.outlets as outlets
    import databay.support as support

    for module in (inlets, outlets, support):
        public = {name for name in vars(module) if not name.startswith("_") and
                  isinstance(getattr(module, name), type)}
        assert set(module.__all__) == public


def test_importing_node_packages_has_no_side_effects():
    """Importing the node packages attaches no logging handler and imports no heavy optional module."""
    code = ("import sys, databay.inlets, databay.outlets, databay.support.buffers\n"
            "heavy = [m for m in ('logging', 'urllib.request', 'sqlite3', 'csv', 'json', 'ssl',"
            " 'random', 'http.client', 'tempfile') if m in sys.modules]\n"
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
