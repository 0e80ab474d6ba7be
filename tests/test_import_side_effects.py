"""Importing databay does nothing but define names (checked in fresh interpreters)."""

import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PROBE = textwrap.dedent("""
    import atexit, json, os, sys, sysconfig, threading
    before_modules = set(sys.modules)
    before_path = list(sys.path)
    before_threads = threading.active_count()
    before_atexit = atexit._ncallbacks()
    before_env = dict(os.environ)
    import {module}
    new = sorted(set(sys.modules) - before_modules)
    stdlib_dirs = {{os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")}}
    site_dirs = {{os.path.realpath(sysconfig.get_paths()[key]) for key in ("purelib", "platlib")}}

    def third_party(name):
        top = name.partition(".")[0]
        if top == "databay":
            return False
        names = getattr(sys, "stdlib_module_names", None)
        if names is not None and top in names:
            return False
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        if path is None:
            return False  # builtin or namespace
        path = os.path.realpath(path)
        if any(path.startswith(site) for site in site_dirs):
            return True
        return not any(path.startswith(std) for std in stdlib_dirs)

    threads = threading.active_count() - before_threads
    atexit_added = atexit._ncallbacks() - before_atexit
    third = [name for name in new if third_party(name)]
    import logging  # only now: importing logging itself registers an atexit hook
    logger = logging.getLogger("databay")
    print(json.dumps({{
        "new": new,
        "third_party": third,
        "handlers": [repr(h) for h in logger.handlers],
        "level": logger.level,
        "root_handlers": [repr(h) for h in logging.getLogger().handlers],
        "threads": threads,
        "atexit": atexit_added,
        "path_changed": sys.path != before_path,
        "env_changed": dict(os.environ) != before_env,
        "policy_set": __import__("asyncio").events._event_loop_policy is not None,
    }}))
""")


def _probe(module):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run([sys.executable, "-c", _PROBE.format(module=module)], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_import_databay_has_no_side_effects():
    """import databay: no third-party modules, no handlers, no threads, no atexit, no sys.path edits."""
    report = _probe("databay")
    assert report["third_party"] == []
    assert report["handlers"] == [] and report["level"] == 0
    assert report["root_handlers"] == []
    assert report["threads"] == 0
    assert report["atexit"] == 0
    assert report["path_changed"] is False
    assert report["env_changed"] is False
    assert report["policy_set"] is False  # no event-loop policy installed


def test_import_databay_skips_heavy_stdlib_modules():
    """import databay does not import asyncio, logging, typing or concurrent.futures."""
    new = set(_probe("databay")["new"])
    for heavy in ("asyncio", "logging", "typing", "concurrent.futures", "concurrent"):
        assert heavy not in new, heavy


def test_import_databay_planners_does_not_need_apscheduler():
    """import databay.planners imports no apscheduler module and nothing third-party."""
    report = _probe("databay.planners")
    assert not any(name.partition(".")[0] == "apscheduler" for name in report["new"])
    assert report["third_party"] == []
    assert report["threads"] == 0 and report["atexit"] == 0
    assert report["handlers"] == []


def test_import_misc_logs_adds_no_handler():
    """import databay.misc.logs defines helpers but attaches no handler."""
    report = _probe("databay.misc.logs")
    assert report["handlers"] == [] and report["root_handlers"] == []
    assert report["third_party"] == []


def test_databay_modules_are_not_top_level():
    """databay does not make its submodules importable as top-level names (no sys.path hack)."""
    new = _probe("databay")["new"]
    for name in ("link", "inlet", "outlet", "record", "update", "errors"):
        assert name not in new


def test_probe_detects_third_party_modules():
    """The probe itself flags an installed third-party module (so an empty result means something)."""
    import pytest

    pytest.importorskip("iniconfig")
    assert "iniconfig" in _probe("iniconfig")["third_party"]


def test_import_databay_loads_only_what_every_link_needs():
    """Modules a plain ``import databay`` does without (each is imported where it is needed):
    measured without ``site``, so nothing the interpreter's start-up imports hides one."""
    code = ("import sys; before = set(sys.modules); import databay; "
            "print(' '.join(sorted(set(sys.modules) - before)))")
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    new = set(result.stdout.split())
    assert "databay.link" in new  # the probe saw the import
    lazy = {"types", "contextvars", "threading", "asyncio", "logging", "typing", "json",
            "databay.retry", "databay._deprecation", "databay.base_planner", "databay._delivery"}
    assert not new & lazy, sorted(new & lazy)
