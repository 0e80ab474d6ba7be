"""FileInlet: LINE and FILE modes on real files."""

import pytest

from databay import Link, Outlet
from databay.inlets import FileInlet
from databay.inlets.file_inlet import FileInletMode


class _Collect(Outlet):
    def __init__(self):
        super().__init__()
        self.payloads = []

    def push(self, records, update):
        self.payloads.extend(record.payload for record in records)


def test_line_mode_returns_raw_lines_then_nothing(tmp_path, update):
    """LINE mode returns one raw line per pull (newline kept, as in 0.3.0) and [] at end of file."""
    path = tmp_path / "in.txt"
    path.write_text("first\n\nthird", encoding="utf-8")
    inlet = FileInlet(path)
    inlet.try_start()
    try:
        assert [inlet.pull(update) for _ in range(5)] == ["first\n", "\n", "third", [], []]
    finally:
        inlet.try_shutdown()


def test_line_mode_keeps_file_open_and_sees_appended_lines(tmp_path, update):
    """The file stays open between on_start and on_shutdown; lines appended later are read."""
    path = tmp_path / "grow.txt"
    path.write_text("a\n", encoding="utf-8")
    inlet = FileInlet(str(path))
    inlet.try_start()
    try:
        assert inlet.pull(update) == "a\n"
        assert inlet.pull(update) == []
        with open(path, "a", encoding="utf-8") as file:
            file.write("b\n")
        assert inlet.pull(update) == "b\n"
    finally:
        inlet.try_shutdown()
    assert inlet._file is None


def test_line_mode_in_a_link_produces_no_empty_records(tmp_path):
    """Transfers after the end of file push no records (no empty-string records)."""
    path = tmp_path / "in.txt"
    path.write_text("x\ny\n", encoding="utf-8")
    outlet = _Collect()
    inlet = FileInlet(path)
    link = Link(inlet, outlet, interval=1)
    link.on_start()
    try:
        for _ in range(4):
            link.transfer()
    finally:
        link.on_shutdown()
    assert outlet.payloads == ["x\n", "y\n"]


def test_line_mode_pull_before_start_is_a_clear_error(tmp_path, update):
    """A LINE-mode pull before on_start raises RuntimeError saying to start the inlet."""
    path = tmp_path / "in.txt"
    path.write_text("x\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="try_start"):
        FileInlet(path).pull(update)


def test_line_mode_missing_file_fails_at_start(tmp_path):
    """on_start of a LINE-mode inlet raises FileNotFoundError for a missing file."""
    inlet = FileInlet(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError):
        inlet.try_start()
    assert inlet.active is False


def test_file_mode_reads_whole_file_each_pull(tmp_path, update):
    """FILE mode returns the whole content on every pull, re-reading changes."""
    path = tmp_path / "whole.txt"
    path.write_text("one\ntwo\n", encoding="utf-8")
    inlet = FileInlet(path, read_mode=FileInletMode.FILE)
    assert inlet.pull(update) == "one\ntwo\n"
    path.write_text("three", encoding="utf-8")
    assert inlet.pull(update) == "three"


def test_file_mode_empty_file_gives_no_record(tmp_path, update):
    """FILE mode on an empty file returns [] (no record)."""
    path = tmp_path / "empty.txt"
    path.write_text("", encoding="utf-8")
    assert FileInlet(path, "file").pull(update) == []


def test_encoding_is_used(tmp_path, update):
    """The encoding parameter decodes the file (both modes)."""
    path = tmp_path / "latin.txt"
    path.write_bytes("café\n".encode("latin-1"))
    assert FileInlet(path, FileInletMode.FILE, encoding="latin-1").pull(update) == "café\n"
    inlet = FileInlet(path, encoding="latin-1")
    inlet.try_start()
    try:
        assert inlet.pull(update) == "café\n"
    finally:
        inlet.try_shutdown()


def test_read_mode_accepts_enum_values():
    """read_mode may be given as 'line' or 'file' and is stored as the enum member."""
    assert FileInlet("x", "file").read_mode is FileInletMode.FILE
    assert FileInlet("x").read_mode is FileInletMode.LINE


def test_metadata_positional_as_in_0_3_0(tmp_path, update):
    """Global metadata is accepted as the third positional argument, as 0.3.0's *args allowed."""
    inlet = FileInlet("x", FileInletMode.FILE, {"k": 1})
    assert inlet.metadata == {"k": 1}
    assert "filepath='x'" in repr(inlet)


@pytest.mark.parametrize("args, kwargs, error, name", [
    ((5,), {}, TypeError, "filepath"),
    (("",), {}, TypeError, "filepath"),
    (("x",), {"read_mode": "lines"}, ValueError, "read_mode"),
    (("x",), {"encoding": "no-such-codec"}, ValueError, "encoding"),
    (("x",), {"encoding": 8}, TypeError, "encoding"),
    (("x",), {"metadata": [1]}, TypeError, "metadata"),
])
def test_bad_arguments_name_the_parameter(args, kwargs, error, name):
    """Each bad argument raises TypeError/ValueError naming the parameter."""
    with pytest.raises(error, match="^%s=" % name):
        FileInlet(*args, **kwargs)
