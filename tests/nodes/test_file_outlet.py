"""FileOutlet on real files: grouping, modes, encodings and base_dir."""

import os

import pytest

from databay import Link, Record
from databay.outlet import MetadataKey
from databay.outlets import FileOutlet


def test_metadata_keys_are_named_after_the_outlet():
    """Metadata keys are MetadataKey attributes named 'FileOutlet.<KEY>'."""
    assert FileOutlet.FILEPATH == "FileOutlet.FILEPATH"
    assert FileOutlet.FILE_MODE == "FileOutlet.FILE_MODE"
    assert FileOutlet.FILE_ENCODING == "FileOutlet.FILE_ENCODING"
    assert all(isinstance(k, MetadataKey) for k in
               (FileOutlet.FILEPATH, FileOutlet.FILE_MODE, FileOutlet.FILE_ENCODING))


def test_appends_one_line_per_record(tmp_path, update, make_records):
    """Default mode 'a' appends str(payload) + newline per record, across pushes."""
    path = tmp_path / "out.txt"
    outlet = FileOutlet(path)
    outlet.push(make_records([1, "two", {"x": 3}]), update)
    outlet.push(make_records(["four"]), update)
    assert path.read_text(encoding="utf-8") == "1\ntwo\n{'x': 3}\nfour\n"


def test_w_mode_truncates_once_per_push(tmp_path, update, make_records):
    """Mode 'w' truncates once per push: the file holds all records of the last push."""
    path = tmp_path / "out.txt"
    outlet = FileOutlet(path, "w")
    outlet.push(make_records(["old"]), update)
    outlet.push(make_records(["a", "b", "c"]), update)
    assert path.read_text(encoding="utf-8") == "a\nb\nc\n"


def test_w_from_metadata_truncates_once_per_push(tmp_path, update):
    """A record asking 'w' via metadata truncates its file once; every record of the push survives."""
    path = tmp_path / "out.txt"
    path.write_text("old\n", encoding="utf-8")
    records = [Record("a"), Record("b", {FileOutlet.FILE_MODE: "w"}), Record("c")]
    FileOutlet(path).push(records, update)
    assert path.read_text(encoding="utf-8") == "a\nb\nc\n"


def test_records_routed_by_metadata_keep_their_order(tmp_path, update):
    """Records choosing files via FILEPATH land in their file, in push order; dirs are created."""
    default = tmp_path / "default.txt"
    other = tmp_path / "sub" / "dir" / "other.txt"
    records = [Record(i, {FileOutlet.FILEPATH: str(other)} if i % 2 else {}) for i in range(6)]
    FileOutlet(default).push(records, update)
    assert default.read_text(encoding="utf-8") == "0\n2\n4\n"
    assert other.read_text(encoding="utf-8") == "1\n3\n5\n"


def test_same_file_spelled_differently_is_opened_once(tmp_path, update, monkeypatch):
    """'x.txt' and './x.txt' are one target: with 'w' the push's records all survive."""
    monkeypatch.chdir(tmp_path)
    records = [Record("a", {FileOutlet.FILEPATH: "x.txt"}),
               Record("b", {FileOutlet.FILEPATH: "./x.txt"})]
    FileOutlet("x.txt", "w").push(records, update)
    assert (tmp_path / "x.txt").read_text(encoding="utf-8") == "a\nb\n"


def test_encodings(tmp_path, update):
    """default_encoding and the FILE_ENCODING key choose the encoding of each file."""
    latin = tmp_path / "latin.txt"
    utf16 = tmp_path / "utf16.txt"
    FileOutlet(latin, default_encoding="latin-1").push([Record("é")], update)
    FileOutlet(latin).push([Record("ü", {FileOutlet.FILE_ENCODING: "utf-16",
                                          FileOutlet.FILEPATH: str(utf16)})], update)
    assert latin.read_bytes() == "é\n".encode("latin-1")
    assert utf16.read_text(encoding="utf-16") == "ü\n"


def test_conflicting_encodings_for_one_file_write_nothing(tmp_path, update):
    """Two encodings for one file in one push raise ValueError and write nothing."""
    path = tmp_path / "out.txt"
    records = [Record("a"), Record("b", {FileOutlet.FILE_ENCODING: "latin-1"})]
    with pytest.raises(ValueError, match="encoding"):
        FileOutlet(path).push(records, update)
    assert not path.exists()


@pytest.mark.parametrize("key, value, error", [
    (FileOutlet.FILE_MODE, "r", ValueError),
    (FileOutlet.FILE_MODE, "ab", ValueError),
    (FileOutlet.FILE_ENCODING, "bogus-codec", ValueError),
    (FileOutlet.FILEPATH, 42, TypeError),
    (FileOutlet.FILEPATH, ["x"], TypeError),
])
def test_bad_metadata_values_write_nothing(tmp_path, update, key, value, error):
    """A bad metadata value raises an error naming the key, before anything is written."""
    path = tmp_path / "out.txt"
    with pytest.raises(error, match="^%s=" % key):
        FileOutlet(path).push([Record("ok"), Record("bad", {key: value})], update)
    assert not path.exists()


@pytest.mark.parametrize("escape", ["../escape.txt", "sub/../../escape.txt", "/etc/passwd_copy"])
def test_base_dir_refuses_paths_outside(tmp_path, update, escape):
    """With base_dir, a metadata path escaping it ('..', absolute) is refused and nothing is written."""
    base = tmp_path / "base"
    base.mkdir()
    outlet = FileOutlet("ok.txt", base_dir=base)
    records = [Record("fine"), Record("evil", {FileOutlet.FILEPATH: escape})]
    with pytest.raises(ValueError, match="outside base_dir"):
        outlet.push(records, update)
    assert list(base.iterdir()) == []
    assert not (tmp_path / "escape.txt").exists()


def test_base_dir_refuses_symlink_pointing_out(tmp_path, update):
    """With base_dir, a path through a symlink that leads outside base_dir is refused."""
    base = tmp_path / "base"
    base.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, base / "link")
    with pytest.raises(ValueError, match="outside base_dir"):
        FileOutlet("ok.txt", base_dir=base).push(
            [Record("x", {FileOutlet.FILEPATH: "link/file.txt"})], update)
    assert list(outside.iterdir()) == []


def test_base_dir_allows_paths_inside(tmp_path, update):
    """With base_dir, relative paths (even with harmless '..') and absolute paths inside it are written."""
    base = tmp_path / "base"
    outlet = FileOutlet("default.txt", base_dir=base)
    outlet.push([Record(1), Record(2, {FileOutlet.FILEPATH: "a/../b/c.txt"}),
                 Record(3, {FileOutlet.FILEPATH: str(base / "abs.txt")})], update)
    assert (base / "default.txt").read_text(encoding="utf-8") == "1\n"
    assert (base / "b" / "c.txt").read_text(encoding="utf-8") == "2\n"
    assert (base / "abs.txt").read_text(encoding="utf-8") == "3\n"


def test_default_path_outside_base_dir_fails_at_construction(tmp_path):
    """A default_filepath outside base_dir is refused at construction."""
    with pytest.raises(ValueError, match="default_filepath"):
        FileOutlet("../x.txt", base_dir=tmp_path)


def test_positional_processors_as_in_0_3_0(tmp_path, counting_inlet):
    """processors may follow the three 0.3.0 parameters positionally."""
    path = tmp_path / "p.txt"
    outlet = FileOutlet(path, "a", "utf-8", [lambda records: records[:1]])
    Link(counting_inlet(per_pull=2), outlet, interval=1).transfer()
    assert path.read_text(encoding="utf-8") == "{'n': 0, 'pull': 1}\n"


@pytest.mark.parametrize("args, kwargs, error, name", [
    ((None,), {}, TypeError, "default_filepath"),
    (("x",), {"default_file_mode": "r"}, ValueError, "default_file_mode"),
    (("x",), {"default_encoding": "nope"}, ValueError, "default_encoding"),
    (("x",), {"processors": 3}, TypeError, "processors"),
    (("x",), {"base_dir": 3}, TypeError, "base_dir"),
])
def test_bad_arguments_name_the_parameter(args, kwargs, error, name):
    """Each bad argument raises TypeError/ValueError naming the parameter."""
    with pytest.raises(error, match="^%s=" % name):
        FileOutlet(*args, **kwargs)
