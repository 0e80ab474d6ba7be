"""Node arguments that 0.4.0 accepted and that failed later (issue 11): each is now refused
at construction (or, for metadata, at push before any write) with a message naming the
parameter, the value and what is accepted."""

import math
import os

import pytest

from databay import Record
from databay.inlets import FileInlet, HttpInlet
from databay.outlets import CsvOutlet, FileOutlet, SqliteOutlet


@pytest.mark.parametrize("encoding", ["hex", "rot13", "base64", "zlib"])
@pytest.mark.parametrize("make, name", [
    (lambda tmp, enc: FileInlet(tmp / "in.txt", encoding=enc), "encoding"),
    (lambda tmp, enc: FileOutlet(tmp / "out.txt", default_encoding=enc), "default_encoding"),
    (lambda tmp, enc: CsvOutlet(tmp / "out.csv", encoding=enc), "encoding"),
])
def test_codecs_that_are_not_text_encodings_are_refused(tmp_path, make, name, encoding):
    """'hex', 'rot13', 'base64', 'zlib' are codecs but not text encodings: ValueError naming
    the parameter and the value, saying what is accepted."""
    with pytest.raises(ValueError, match="^%s=%r .*not a text encoding.*utf-8" % (name, encoding)):
        make(tmp_path, encoding)


def test_file_encoding_metadata_codec_is_refused_before_any_write(tmp_path, update):
    """FILE_ENCODING='hex' in one record: ValueError at push, no file created."""
    outlet = FileOutlet(tmp_path / "out.txt")
    with pytest.raises(ValueError, match="^FileOutlet.FILE_ENCODING='hex'"):
        outlet.push([Record("a"), Record("b", {FileOutlet.FILE_ENCODING: "hex"})], update)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make, name", [
    (lambda path: FileOutlet(path), "default_filepath"),
    (lambda path: CsvOutlet(path), "default_filepath"),
    (lambda path: SqliteOutlet(path, "t"), "database"),
    (lambda path: FileInlet(path), "filepath"),
])
@pytest.mark.parametrize("kind", ["directory", "nul"])
def test_directory_or_nul_byte_as_a_path_is_refused(tmp_path, make, name, kind):
    """A directory, or a path with a NUL byte, is refused at construction naming the parameter."""
    path = tmp_path if kind == "directory" else str(tmp_path / "a\0b")
    words = "is a directory" if kind == "directory" else "NUL"
    with pytest.raises(ValueError, match="^%s=.*%s" % (name, words)):
        make(path)


def test_directory_as_a_metadata_path_is_refused_before_any_write(tmp_path, update):
    """A metadata path naming a directory fails the push before anything is written."""
    (tmp_path / "sub").mkdir()
    outlet = FileOutlet(tmp_path / "out.txt")
    with pytest.raises(ValueError, match="^FileOutlet.FILEPATH=.*is a directory"):
        outlet.push([Record("a"), Record("b", {FileOutlet.FILEPATH: str(tmp_path / "sub")})],
                    update)
    assert not (tmp_path / "out.txt").exists()


def test_base_dir_that_is_a_file_is_refused(tmp_path):
    """base_dir naming an existing file is refused at construction."""
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="^base_dir=.*not a directory"):
        FileOutlet("x.txt", base_dir=tmp_path / "f")


@pytest.mark.parametrize("timeout", [1e300, float("inf"), float("nan"), 10 ** 12])
def test_http_timeout_beyond_a_year_is_refused(timeout):
    """HttpInlet(timeout=1e300) (and inf, nan, 10**12) is a ValueError naming timeout."""
    with pytest.raises(ValueError, match=r"^timeout=.*at most 31536000"):
        HttpInlet("http://127.0.0.1/", timeout=timeout)


@pytest.mark.parametrize("make, name", [
    (lambda: HttpInlet("http://127.0.0.1/", json="false"), "json"),
    (lambda: CsvOutlet("x.csv", escape_formulas="false"), "escape_formulas"),
    (lambda: CsvOutlet("x.csv", escape_formulas=1), "escape_formulas"),
    (lambda: FileInlet("x.txt", "tail", from_end="false"), "from_end"),
    (lambda: FileInlet("x.txt", "tail", from_end=0), "from_end"),
])
def test_booleans_must_be_real_booleans(make, name):
    """'false', 0 or 1 where a bool is expected is a TypeError naming the parameter."""
    with pytest.raises(TypeError, match="^%s=.*True.*or False" % name):
        make()


def test_sqlite_refuses_nan_instead_of_storing_null(tmp_path, update):
    """SQLite stores NaN as NULL: the push is refused naming the record and key; nothing written."""
    import sqlite3

    database = tmp_path / "db.sqlite"
    outlet = SqliteOutlet(database, "t")
    outlet.push([Record({"x": 1.0})], update)
    with pytest.raises(ValueError, match="record 1 has NaN under key 'x'"):
        outlet.push([Record({"x": 2.0}), Record({"x": math.nan})], update)
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT x FROM t").fetchall() == [(1.0,)]
    connection.close()


class _Sneaky(str):
    """Passes a check on its characters but prints as SQL."""

    def __str__(self):
        return 'y" (a); DROP TABLE victim; --'


def test_sqlite_str_subclass_names_cannot_inject(tmp_path, update):
    """A str subclass with a custom __str__ as table or key is used by its own characters."""
    import sqlite3

    database = tmp_path / "db.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE victim (a)")
    connection.close()
    SqliteOutlet(database, "t").push(
        [Record({_Sneaky("k"): 1}), Record({"k": 2}, {SqliteOutlet.TABLE: _Sneaky("t")})], update)
    SqliteOutlet(database, _Sneaky("t")).push([Record({"k": 3})], update)
    with sqlite3.connect(database) as connection:
        tables = sorted(row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"))
        assert tables == ["t", "victim"]
        assert connection.execute("SELECT k FROM t ORDER BY k").fetchall() == [(1,), (2,), (3,)]
    connection.close()


def test_rejected_arguments_leave_no_file_behind(tmp_path):
    """Refusals at construction create nothing on disk."""
    for make in (lambda: FileOutlet(tmp_path / "o.txt", default_encoding="rot13"),
                 lambda: CsvOutlet(tmp_path / "o.csv", encoding="hex")):
        with pytest.raises(ValueError):
            make()
    assert os.listdir(tmp_path) == []
