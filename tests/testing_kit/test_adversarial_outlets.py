"""OutletTester's opt-in adversarial tests, pointed at real file outlets.

Pointed at CsvOutlet and FileOutlet as databay 0.4.0 shipped them (copies in
legacy_outlets/), they must find the defects a deliberate attack found there:
rows written before a push fails, a 'w' file emptied before an encoding error,
and a CSV file the outlet can no longer read back after one huge cell. Pointed
at the current outlets, they must pass. Both run with the kit's default
Hypothesis settings (without the example database, so nothing is replayed).
While databay's outlets are still byte for byte the 0.4.0 ones, the tests of
the current outlets are reported as expected failures without running (the
legacy tests already run that code); once they change, they must pass.
"""

import csv
import hashlib
import io
import os
import pathlib
import sys
import unittest

import pytest
from hypothesis import settings
from hypothesis import strategies as st

import databay_testing
from databay import Record
from databay.outlets import CsvOutlet, FileOutlet
from databay_testing import strategies

DEFAULTS = settings(databay_testing.OutletTester.hypothesis_settings, database=None)
ADVERSARIAL = ["test_adversarial_push_writes_all_or_nothing",
               "test_ordinary_push_works_after_adversarial_pushes"]


def fresh(directory, suffix):
    """A path in ``directory`` that no earlier call returned (every get_outlet() gets new files)."""
    fresh.count = getattr(fresh, "count", 0) + 1
    return directory / f"{fresh.count}{suffix}"


def read_csv(path):
    """The data rows of a CSV file as dicts without empty cells, read with no field size limit."""
    if not os.path.exists(path):
        return []
    limit = csv.field_size_limit(sys.maxsize)
    try:
        with open(path, newline="", encoding="utf-8", errors="surrogateescape") as file:
            rows = list(csv.reader(file))
    finally:
        csv.field_size_limit(limit)
    header = rows[0] if rows else []
    return [{name: value for name, value in zip(header, row) if value != ""} for row in rows[1:]]


def read_text(path):
    if not os.path.exists(path):
        return ""
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as file:
        return file.read()


def csv_tester(csv_outlet, directory, examples=DEFAULTS):
    """An OutletTester for ``csv_outlet`` (a CsvOutlet class) appending to files in ``directory``."""

    class CsvOutletTest(databay_testing.OutletTester):
        hypothesis_settings = examples

        def get_outlet(self):
            return csv_outlet(str(fresh(directory, ".csv")))

        def read_back(self, outlet):
            return read_csv(outlet.default_filepath)

    return CsvOutletTest


def file_tester(file_outlet, directory, examples=DEFAULTS):
    """An OutletTester for ``file_outlet`` (a FileOutlet class), in modes 'a' and 'w'."""

    class FileOutletTest(databay_testing.OutletTester):
        hypothesis_settings = examples

        def get_outlet(self):
            return [file_outlet(str(fresh(directory, "-a.txt")), "a"),
                    file_outlet(str(fresh(directory, "-w.txt")), "w")]

        def adversarial_record_lists(self):
            # FileOutlet writes str(payload): bare text reaches the file as it is.
            payload = st.one_of(strategies.adversarial_text(), strategies.adversarial_payloads(),
                                strategies.adversarial_values())
            return st.lists(st.builds(Record, payload=payload, metadata=st.builds(dict)),
                            min_size=1, max_size=5)

        def read_back(self, outlet):
            return read_text(outlet.default_filepath)

        def expected_after(self, outlet, before, records):
            lines = "".join(f"{record.payload}\n" for record in records)
            if not records:
                return before
            return lines if outlet.default_file_mode == "w" else before + lines

    return FileOutletTest


def run(case):
    """Run only the adversarial tests of ``case``; return {test name: failure text}."""
    stream = io.StringIO()
    suite = unittest.TestSuite(case(name) for name in ADVERSARIAL)
    result = unittest.TextTestRunner(stream=stream, verbosity=2).run(suite)
    assert result.testsRun == 2 and not result.skipped, stream.getvalue()
    return {test.id().split(".")[-1].split(" ")[0]: text for test, text in result.failures + result.errors}


def test_legacy_csv_outlet_partial_write_and_field_limit_are_found(legacy_outlets, tmp_path):
    """0.4.0's CsvOutlet: rows written before a failing row, and files it cannot read back.

    The partial write needs an ordinary row before an unencodable one in one push: the default
    50 examples missed it in about 1 run of 6, so this finding gets 200.
    """
    failures = run(csv_tester(legacy_outlets.CsvOutlet, tmp_path, settings(DEFAULTS, max_examples=200)))
    assert sorted(failures) == ADVERSARIAL, failures
    partial = failures["test_adversarial_push_writes_all_or_nothing"]
    assert "but changed what it stores" in partial and "surrogate" in partial, partial
    limit = failures["test_ordinary_push_works_after_adversarial_pushes"]
    assert "field larger than field limit" in limit, limit


def test_legacy_file_outlet_emptying_a_file_is_found(legacy_outlets, tmp_path):
    """0.4.0's FileOutlet in mode 'w': an encoding error after the file was emptied.

    The default 50 examples missed it once in about a dozen full runs (with 5 examples: 4 runs
    of 40), so this finding gets 200 too.
    """
    failures = run(file_tester(legacy_outlets.FileOutlet, tmp_path, settings(DEFAULTS, max_examples=200)))
    assert "test_adversarial_push_writes_all_or_nothing" in failures, failures
    text = failures["test_adversarial_push_writes_all_or_nothing"]
    assert "FileOutlet.push raised UnicodeEncodeError" in text and "but changed what it stores" in text, text


def _legacy_source(module_file):
    """Whether ``module_file`` is still 0.4.0's source (the copy differs only in its imports)."""
    def body(path):
        lines = pathlib.Path(path).read_text().splitlines()
        return "\n".join(line for line in lines if line.strip() and "import" not in line)
    legacy = pathlib.Path(__file__).parent / "legacy_outlets" / pathlib.Path(module_file).name
    return hashlib.sha256(body(module_file).encode()).digest() == \
        hashlib.sha256(body(legacy).encode()).digest()


@pytest.mark.xfail(_legacy_source(sys.modules[CsvOutlet.__module__].__file__), strict=True, run=False,
                   reason="databay.outlets.CsvOutlet is still 0.4.0's (the file-outlet fixes have not landed)")
def test_current_csv_outlet_passes(tmp_path):
    """databay's CsvOutlet writes all or nothing and keeps reading back what it wrote."""
    assert run(csv_tester(CsvOutlet, tmp_path)) == {}


@pytest.mark.xfail(_legacy_source(sys.modules[FileOutlet.__module__].__file__), strict=True, run=False,
                   reason="databay.outlets.FileOutlet is still 0.4.0's (the file-outlet fixes have not landed)")
def test_current_file_outlet_passes(tmp_path):
    """databay's FileOutlet writes all or nothing, in both modes."""
    assert run(file_tester(FileOutlet, tmp_path)) == {}


def sqlite_tester(directory):
    """An OutletTester for SqliteOutlet: a new database file per get_outlet(), read back with sqlite3."""
    from databay.outlets import SqliteOutlet

    class SqliteOutletTest(databay_testing.OutletTester):
        hypothesis_settings = DEFAULTS

        def get_outlet(self):
            return SqliteOutlet(str(fresh(directory, ".sqlite")), "records")

        def read_back(self, outlet):
            import sqlite3

            path = outlet.database
            if not os.path.exists(path):
                return []
            with sqlite3.connect(path) as connection:
                columns = {row[1].lower() for row in connection.execute("PRAGMA table_info(records)")}
                if not columns:  # no table yet
                    return []
                # A record field named rowid, oid or _rowid_ becomes a column that hides the
                # table's rowid under that name: order by a name still free (a table scan is in
                # rowid order too, the fallback when a record used all three).
                free = [name for name in ("rowid", "_rowid_", "oid") if name not in columns]
                order = f" ORDER BY {free[0]}" if free else ""
                rows = connection.execute("SELECT * FROM records" + order).fetchall()
            return [tuple(value for value in row if value is not None) for row in rows]

    return SqliteOutletTest


def test_sqlite_outlet_passes(tmp_path):
    """SqliteOutlet (one transaction per push) writes all or nothing, against real SQLite files."""
    assert run(sqlite_tester(tmp_path)) == {}
