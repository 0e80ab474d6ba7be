"""Shared pytest configuration for the databay test suite."""

import importlib
import pkgutil

from hypothesis import HealthCheck, settings

# Hypothesis' "too slow" health check and deadlines measure wall time, which a busy
# 2-core machine stretches; the suite must stay green there (timing belongs to benchmarks).
settings.register_profile("databay-suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("databay-suite")


def pytest_sessionstart(session):
    """Import every module of databay and databay_testing once, before any test starts a thread.

    CPython 3.11 up to 3.11.7 can raise a spurious ``SystemError: AST constructor
    recursion depth mismatch`` when one thread compiles source while another parses
    (3.11's tracebacks parse the failing line to place their ``^^^`` markers), a
    CPython bug fixed in 3.11.8 (gh-106905). With bytecode caching off
    (PYTHONDONTWRITEBYTECODE) every lazy import compiles, so a test calling, say,
    ``serve_status()`` while a failing link logs its traceback could hit it.
    """
    import databay
    import databay_testing

    for package in (databay, databay_testing):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
