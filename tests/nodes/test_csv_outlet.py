"""CsvOutlet on real files: header, modes, mixed keys, base_dir, formula escaping."""

import csv
import os

import pytest

from databay import Record
from databay.outlet import MetadataKey
from databay.outlets import CsvOutlet


def read(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


def test_metadata_keys_are_named_after_the_outlet():
    """CSV_FILE and FILE_MODE are MetadataKey attributes named 'CsvOutlet.<KEY>'."""
    assert CsvOutlet.CSV_FILE == "CsvOutlet.CSV_FILE" and CsvOutlet.FILE_MODE == "CsvOutlet.FILE_MODE"
    assert isinstance(CsvOutlet.CSV_FILE, MetadataKey) and isinstance(CsvOutlet.FILE_MODE, MetadataKey)


def test_header_written_once_across_pushes(tmp_path, update, make_records):
    """A new file gets one header; later pushes append rows only."""
    path = tmp_path / "out.csv"
    outlet = CsvOutlet(path)
    outlet.push(make_records([{"a": 1, "b": 2}, {"a": 3, "b": 4}]), update)
    outlet.push(make_records([{"a": 5, "b": 6}]), update)
    assert read(path) == [["a", "b"], ["1", "2"], ["3", "4"], ["5", "6"]]


def test_w_mode_keeps_every_record_of_the_push(tmp_path, update, make_records):
    """Mode 'w' truncates once per push: header plus all rows of the latest push."""
    path = tmp_path / "out.csv"
    outlet = CsvOutlet(path, "w")
    outlet.push(make_records([{"a": 0}]), update)
    outlet.push(make_records([{"a": 1}, {"a": 2}, {"a": 3}]), update)
    assert read(path) == [["a"], ["1"], ["2"], ["3"]]


def test_file_mode_metadata_w_truncates_once(tmp_path, update):
    """A record asking FILE_MODE='w' truncates its file once; the push's earlier rows survive."""
    path = tmp_path / "out.csv"
    CsvOutlet(path).push([Record({"a": "old"})], update)
    CsvOutlet(path).push([Record({"a": 1}), Record({"a": 2}, {CsvOutlet.FILE_MODE: "w"})], update)
    assert read(path) == [["a"], ["1"], ["2"]]


def test_records_routed_to_files(tmp_path, update):
    """CSV_FILE routes records; each file gets its own header and rows in order."""
    default, other = tmp_path / "d.csv", tmp_path / "nested" / "o.csv"
    records = [Record({"i": i}, {CsvOutlet.CSV_FILE: str(other)} if i % 2 else {}) for i in range(5)]
    CsvOutlet(default).push(records, update)
    assert read(default) == [["i"], ["0"], ["2"], ["4"]]
    assert read(other) == [["i"], ["1"], ["3"]]


def test_mixed_keys_in_one_push_use_the_union(tmp_path, update):
    """Records with different keys share one header (union, first-seen order); missing cells are empty."""
    path = tmp_path / "out.csv"
    CsvOutlet(path).push([Record({"a": 1, "b": 2}), Record({"b": 3, "c": 4}), Record({"c": 5})],
                         update)
    assert read(path) == [["a", "b", "c"], ["1", "2", ""], ["", "3", "4"], ["", "", "5"]]


def test_new_keys_in_a_later_push_widen_the_file(tmp_path, update):
    """A later push with new keys rewrites the header with the new columns; old rows get empty cells."""
    path = tmp_path / "out.csv"
    outlet = CsvOutlet(path)
    outlet.push([Record({"a": 1, "b": 2})], update)
    outlet.push([Record({"b": 3, "c": 4}), Record({"a": 5})], update)
    outlet.push([Record({"c": 6})], update)
    rows = read(path)
    assert rows == [["a", "b", "c"], ["1", "2", ""], ["", "3", "4"], ["5", "", ""], ["", "", "6"]]
    assert [name for name in os.listdir(tmp_path)] == ["out.csv"]  # no temporary file left


def test_widening_keeps_file_permissions(tmp_path, update):
    """Rewriting a file to add columns keeps its permission bits."""
    path = tmp_path / "out.csv"
    CsvOutlet(path).push([Record({"a": 1})], update)
    os.chmod(path, 0o640)
    CsvOutlet(path).push([Record({"z": 1})], update)
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert read(path) == [["a", "z"], ["1", ""], ["", "1"]]


def test_appending_to_a_foreign_header_maps_columns_by_name(tmp_path, update):
    """Appending to an existing CSV places values under its existing columns, whatever their order."""
    path = tmp_path / "out.csv"
    path.write_text("b,a\r\nx,y\r\n", encoding="utf-8")
    CsvOutlet(path).push([Record({"a": 1, "b": 2})], update)
    assert read(path) == [["b", "a"], ["x", "y"], ["2", "1"]]


def test_values_are_written_as_csv_does(tmp_path, update):
    """None is an empty cell, commas/quotes/newlines are quoted, non-str keys become str."""
    path = tmp_path / "out.csv"
    CsvOutlet(path).push([Record({1: None, "t": 'say "hi", ok\nbye'})], update)
    assert read(path) == [["1", "t"], ["", 'say "hi", ok\nbye']]


@pytest.mark.parametrize("payload", [[1, 2], "text", 5, None, (("a", 1),)])
def test_non_dict_payload_is_a_clear_error_and_writes_nothing(tmp_path, update, payload):
    """A non-mapping payload raises TypeError naming the record, and nothing of the push is written."""
    path = tmp_path / "out.csv"
    with pytest.raises(TypeError, match="dict payload.*record 1 "):
        CsvOutlet(path).push([Record({"a": 1}), Record(payload)], update)
    assert not path.exists()


def test_escape_formulas_neutralises_dangerous_cells(tmp_path, update):
    """escape_formulas prefixes text cells (and headers) starting with = + - @ tab CR with a quote."""
    path = tmp_path / "out.csv"
    payload = {"=key": "=cmd|' /C calc'!A0", "plus": "+1", "minus": "-2", "at": "@SUM(A1)",
               "tab": "\tx", "num": -5, "float": -1.5, "safe": "hello", "none": None}
    CsvOutlet(path, escape_formulas=True).push([Record(payload)], update)
    CsvOutlet(path, escape_formulas=True).push([Record({"=key": "=again"})], update)
    header, row, second = read(path)
    assert header == ["'=key", "plus", "minus", "at", "tab", "num", "float", "safe", "none"]
    assert row == ["'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1)", "'\tx", "-5", "-1.5",
                   "hello", ""]
    assert second[0] == "'=again" and len(second) == len(header)


def test_without_escape_formulas_cells_are_verbatim(tmp_path, update):
    """By default cells are written verbatim."""
    path = tmp_path / "out.csv"
    CsvOutlet(path).push([Record({"f": "=1+1"})], update)
    assert read(path) == [["f"], ["=1+1"]]


def test_base_dir_refuses_traversal_and_writes_nothing(tmp_path, update):
    """With base_dir, CSV_FILE pointing outside ('..' or absolute) is refused; nothing is written."""
    base = tmp_path / "base"
    base.mkdir()
    outlet = CsvOutlet("ok.csv", base_dir=base)
    for evil in ("../evil.csv", str(tmp_path / "evil.csv")):
        with pytest.raises(ValueError, match="outside base_dir"):
            outlet.push([Record({"a": 1}), Record({"a": 2}, {CsvOutlet.CSV_FILE: evil})], update)
    assert list(base.iterdir()) == [] and not (tmp_path / "evil.csv").exists()
    outlet.push([Record({"a": 3}, {CsvOutlet.CSV_FILE: "sub/in.csv"})], update)
    assert read(base / "sub" / "in.csv") == [["a"], ["3"]]


def test_encoding_parameter(tmp_path, update):
    """The encoding keyword encodes header and cells."""
    path = tmp_path / "out.csv"
    CsvOutlet(path, encoding="utf-16").push([Record({"é": "ü"})], update)
    assert path.read_bytes().decode("utf-16") == "é\r\nü\r\n"


def test_empty_push_touches_nothing(tmp_path, update):
    """A push with no records creates no file."""
    path = tmp_path / "out.csv"
    CsvOutlet(path, "w").push([], update)
    assert not path.exists()


def test_large_push_is_complete(tmp_path, update):
    """100,000 records in one push are all written, in order, under one header."""
    path = tmp_path / "big.csv"
    records = [Record({"id": i, "name": "item-%d" % i}) for i in range(100_000)]
    CsvOutlet(path).push(records, update)
    rows = read(path)
    assert len(rows) == 100_001 and rows[1] == ["0", "item-0"] and rows[-1] == ["99999", "item-99999"]


@pytest.mark.parametrize("args, kwargs, error, name", [
    ((3,), {}, TypeError, "default_filepath"),
    (("x.csv",), {"default_file_mode": "x"}, ValueError, "default_file_mode"),
    (("x.csv",), {"encoding": "nope"}, ValueError, "encoding"),
    (("x.csv",), {"escape_formulas": 1}, TypeError, "escape_formulas"),
    (("x.csv",), {"base_dir": ""}, TypeError, "base_dir"),
    (("x.csv",), {"processors": "p"}, TypeError, "processors"),
])
def test_bad_arguments_name_the_parameter(args, kwargs, error, name):
    """Each bad argument raises TypeError/ValueError naming the parameter."""
    with pytest.raises(error, match="^%s=" % name):
        CsvOutlet(*args, **kwargs)


def test_bad_file_mode_metadata_writes_nothing(tmp_path, update):
    """A bad FILE_MODE metadata value raises ValueError naming the key, before writing."""
    path = tmp_path / "out.csv"
    with pytest.raises(ValueError, match="^CsvOutlet.FILE_MODE="):
        CsvOutlet(path).push([Record({"a": 1}), Record({"a": 2}, {CsvOutlet.FILE_MODE: "r"})],
                             update)
    assert not path.exists()
