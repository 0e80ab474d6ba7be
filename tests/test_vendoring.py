"""databay works when its folder is copied into another package (vendoring)."""

import os
import shutil
import subprocess
import sys
import textwrap

import databay

SOURCE = os.path.dirname(os.path.abspath(databay.__file__))


def _run_isolated(cwd, code):
    """Run ``code`` in a fresh interpreter that sees only ``cwd`` and the stdlib (no site-packages)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("PYTHON")}
    return subprocess.run([sys.executable, "-S", "-E", "-s", "-c", textwrap.dedent(code)], cwd=str(cwd),
                          env=env, capture_output=True, text=True, timeout=60)


def _vendor(tmp_path):
    app = tmp_path / "app"
    vendor = app / "_vendor"
    vendor.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    shutil.copytree(SOURCE, str(vendor / "databay"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return tmp_path


def test_real_databay_not_importable_in_isolated_interpreter(tmp_path):
    """The isolated interpreter used below cannot import the installed databay."""
    root = _vendor(tmp_path)
    result = _run_isolated(root, """
        try:
            import databay
        except ImportError:
            print("absent")
        else:
            print("present", databay.__file__)
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "absent"


def test_vendored_copy_runs_a_transfer(tmp_path):
    """app._vendor.databay imports and runs sync and async transfers without 'databay' on the path."""
    root = _vendor(tmp_path)
    result = _run_isolated(root, """
        import sys
        from app._vendor.databay import Inlet, Outlet, Link, Record
        from app._vendor.databay.link import Update
        from app._vendor.databay.planners import SchedulePlanner

        class In(Inlet):
            def pull(self, update):
                return [1, Record(2)]

        class AsyncIn(Inlet):
            async def pull(self, update):
                return 3

        class Out(Outlet):
            def __init__(self):
                super().__init__()
                self.got = []

            def push(self, records, update):
                self.got.append(([r.payload for r in records], str(update)))

        out = Out()
        link = Link([In()], out, 1, tags="v")
        link.transfer()
        async_out = Out()
        async_link = Link([In(), AsyncIn()], async_out, 1)
        async_link.transfer()
        async_link.on_shutdown()
        assert out.got == [([1, 2], "v.0")], out.got
        assert async_out.got == [([1, 2, 3], "0")], async_out.got
        assert "databay" not in sys.modules, "top-level databay was imported"
        assert not any(name.startswith("databay.") for name in sys.modules)
        assert sys.modules["app._vendor.databay"].__file__.startswith(%r)
        print("ok")
    """ % str(root))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_vendored_copy_has_no_absolute_self_imports():
    """No module in databay/ imports 'databay' absolutely (which would break vendoring)."""
    import re

    pattern = re.compile(r"^\s*(from|import)\s+databay\b", re.MULTILINE)
    offenders = []
    for folder, _, files in os.walk(SOURCE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as source:
                    if pattern.search(source.read()):
                        offenders.append(os.path.relpath(path, SOURCE))
    # databay.misc.inlet_tester is the 0.3.0 compatibility shim that may import databay_testing
    assert offenders == []
