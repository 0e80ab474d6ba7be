"""Fixtures for the testing-kit tests: the legacy outlets, loaded as a package of their own."""

import importlib.util
import pathlib
import sys

import pytest

LEGACY = pathlib.Path(__file__).parent / "legacy_outlets"


@pytest.fixture(scope="session")
def legacy_outlets():
    """CsvOutlet and FileOutlet as databay 0.4.0 shipped them (tests run with --import-mode=importlib)."""
    name = "databay_kit_legacy_outlets"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, LEGACY / "__init__.py",
                                                      submodule_search_locations=[str(LEGACY)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]
