"""The attacks on the file outlets: mid-push failures, two writers, oversize cells, the
flipping-symlink race under base_dir; each test failed on 0.4.0."""

import csv
import os
import shutil
import threading

import pytest

from databay import Record
from databay.outlets import CsvOutlet, FileOutlet


def _rows(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


# ---------------------------------------------------------------- mid-push failures

def test_w_mode_unencodable_payload_keeps_the_old_file(tmp_path, update):
    """FileOutlet 'w' with encoding='ascii' and 'café': ValueError, the old content stays."""
    path = tmp_path / "out.txt"
    path.write_text("previous\n", encoding="ascii")
    outlet = FileOutlet(path, "w", "ascii")
    with pytest.raises(ValueError, match="ascii.*nothing of this push was written"):
        outlet.push([Record("fine"), Record("café")], update)
    assert path.read_text(encoding="ascii") == "previous\n"


def test_rot13_file_encoding_is_refused_before_any_write(tmp_path, update):
    """FILE_ENCODING='rot13' (a codec, not a text encoding) is refused; the file is untouched."""
    path = tmp_path / "out.txt"
    path.write_text("previous\n", encoding="utf-8")
    outlet = FileOutlet(path, "w")
    with pytest.raises(ValueError, match="^FileOutlet.FILE_ENCODING='rot13'.*not a text"):
        outlet.push([Record("a"), Record("b", {FileOutlet.FILE_ENCODING: "rot13"})], update)
    assert path.read_text(encoding="utf-8") == "previous\n"


@pytest.mark.parametrize("mode", ["a", "w"])
def test_csv_lone_surrogate_in_row_three_writes_nothing(tmp_path, update, mode):
    """A lone surrogate in row 3: nothing of the push is written; in 'w' the old rows stay."""
    path = tmp_path / "out.csv"
    CsvOutlet(path).push([Record({"n": "old"})], update)
    before = path.read_bytes()
    records = [Record({"n": "1"}), Record({"n": "2"}), Record({"n": "bad \ud800"})]
    with pytest.raises(ValueError, match="nothing of this push was written"):
        CsvOutlet(path, mode).push(records, update)
    assert path.read_bytes() == before


def test_failed_append_to_one_file_undoes_the_others(tmp_path, update):
    """A push to two files where the second write fails (ENOSPC on /dev/full): the first
    file's append is undone, so "refused" means "not written"."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system to make a write fail")
    path = tmp_path / "out.txt"
    path.write_text("previous\n", encoding="utf-8")
    outlet = FileOutlet(path)
    records = [Record("first"), Record("second", {FileOutlet.FILEPATH: "/dev/full"})]
    with pytest.raises(OSError):
        outlet.push(records, update)
    assert path.read_text(encoding="utf-8") == "previous\n"
    new_file = tmp_path / "created.txt"
    records = [Record("first", {FileOutlet.FILEPATH: str(new_file)}),
               Record("second", {FileOutlet.FILEPATH: "/dev/full"})]
    with pytest.raises(OSError):
        outlet.push(records, update)
    assert not new_file.exists(), "a file created by the failed push is removed again"


def test_w_mode_replaces_atomically_and_keeps_permissions(tmp_path, update):
    """'w' goes through a temporary file: no temporary is left behind, the mode bits stay."""
    path = tmp_path / "out.txt"
    path.write_text("old\n", encoding="utf-8")
    os.chmod(path, 0o640)
    FileOutlet(path, "w").push([Record("new")], update)
    assert path.read_text(encoding="utf-8") == "new\n"
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


# ---------------------------------------------------------------- two writers

@pytest.mark.parametrize("spellings", [("same", "same"), ("same", "dotted")])
def test_two_csv_outlets_on_one_file_lose_no_rows(tmp_path, update, monkeypatch, spellings):
    """Two CsvOutlets (one spelling the path differently) append to one file from two
    threads while new columns keep appearing: every row arrives, none twice."""
    monkeypatch.chdir(tmp_path)
    names = {"same": "common.csv", "dotted": "./sub/../common.csv"}
    (tmp_path / "sub").mkdir()
    outlets = [CsvOutlet(names[spelling]) for spelling in spellings]
    pushes, per_push = 120, 5
    errors = []
    start = threading.Barrier(2)

    def writer(number):
        try:
            start.wait(10)
            for push in range(pushes):
                extra = "c%d_%d" % (number, push // 10)  # a new column every 10 pushes
                outlets[number].push([Record({"writer": number, "n": push * per_push + i,
                                              extra: "x"}) for i in range(per_push)], update)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(number,)) for number in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    rows = _rows(tmp_path / "common.csv")
    header, body = rows[0], rows[1:]
    assert all(len(row) == len(header) for row in body)
    seen = sorted((int(row[header.index("writer")]), int(row[header.index("n")])) for row in body)
    assert seen == sorted((w, n) for w in (0, 1) for n in range(pushes * per_push))


# ---------------------------------------------------------------- reads back what it writes

@pytest.mark.parametrize("where", ["value", "key"])
def test_oversize_cell_is_refused_up_front_and_later_pushes_work(tmp_path, update, where):
    """A 200 KB cell (or key) is refused with ValueError before anything is written, so a
    later push adding a column can still read the file back."""
    path = tmp_path / "out.csv"
    outlet = CsvOutlet(path)
    outlet.push([Record({"a": "1"})], update)
    big = "x" * 200_000
    payload = {"a": big} if where == "value" else {big: "1"}
    with pytest.raises(ValueError, match="field_size_limit"):
        outlet.push([Record({"a": "2"}), Record(payload)], update)
    outlet.push([Record({"a": "3", "b": "new column"})], update)
    assert _rows(path) == [["a", "b"], ["1", ""], ["3", "new column"]]


def test_cell_at_the_limit_reads_back(tmp_path, update):
    """A cell of exactly csv.field_size_limit() characters is written and read back."""
    path = tmp_path / "out.csv"
    outlet = CsvOutlet(path)
    cell = "y" * csv.field_size_limit()
    outlet.push([Record({"a": cell})], update)
    outlet.push([Record({"a": "2", "b": "3"})], update)  # a rewrite reads the big cell back
    assert _rows(path) == [["a", "b"], [cell, ""], ["2", "3"]]


# ---------------------------------------------------------------- the symlink race

@pytest.mark.parametrize("outlet_class", [FileOutlet, CsvOutlet])
def test_flipping_symlink_never_writes_outside_base_dir(tmp_path, update, outlet_class):
    """A thread flips base/sub between a real directory and a symlink to a directory
    outside base_dir during 3,000 pushes: nothing is ever written outside."""
    base = tmp_path / "base"
    outside = tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    sub, stash = base / "sub", base / "stash"
    sub.mkdir()
    key = FileOutlet.FILEPATH if outlet_class is FileOutlet else CsvOutlet.CSV_FILE
    outlet = outlet_class("default.txt", base_dir=base)
    stop = threading.Event()
    flips = [0]

    def clear():  # the outlet may create base/sub while it is missing: remove that one
        if os.path.islink(sub):
            os.unlink(sub)
        elif os.path.isdir(sub):
            shutil.rmtree(sub)

    def flip():
        while not stop.is_set():
            os.rename(sub, stash)
            try:
                os.symlink(outside, sub)
            except FileExistsError:
                pass
            while True:  # put the real directory back, whatever the outlet created meanwhile
                try:
                    clear()
                    os.rename(stash, sub)
                    break
                except OSError:
                    continue
            flips[0] += 1

    flipper = threading.Thread(target=flip, daemon=True)
    flipper.start()
    written = refused = 0
    try:
        for number in range(3000):
            try:
                outlet.push([Record({"n": number}, {key: "sub/data.txt"})], update)
                written += 1
            except (ValueError, OSError):
                refused += 1
    finally:
        stop.set()
        flipper.join(10)
    assert list(outside.iterdir()) == [], "records were written outside base_dir"
    assert flips[0] > 0 and written > 0
    assert written + refused == 3000


def test_path_based_fallback_writes_all_or_nothing(tmp_path, update, monkeypatch):
    """Where the system has no descriptor-relative calls (e.g. Windows) the same writes go
    through paths: append, 'w' replacement, CSV widening and the rollback still work."""
    from databay.outlets import _files

    monkeypatch.setattr(_files, "_HAS_DIR_FD", False)
    base = tmp_path / "base"
    text = FileOutlet("sub/out.txt", base_dir=base)
    text.push([Record("a")], update)
    text.push([Record("b"), Record("c", {FileOutlet.FILE_MODE: "w"})], update)
    assert (base / "sub" / "out.txt").read_text(encoding="utf-8") == "b\nc\n"
    table = CsvOutlet(tmp_path / "t.csv")
    table.push([Record({"a": 1})], update)
    table.push([Record({"a": 2, "b": 3})], update)
    assert _rows(tmp_path / "t.csv") == [["a", "b"], ["1", ""], ["2", "3"]]
    if os.path.exists("/dev/full"):
        with pytest.raises(OSError):
            FileOutlet(tmp_path / "x.txt").push(
                [Record("x"), Record("y", {FileOutlet.FILEPATH: "/dev/full"})], update)
        assert not (tmp_path / "x.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "t.csv"]
