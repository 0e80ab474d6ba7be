"""FileInlet TAIL mode on real files: every new line, partial lines, truncation, rotation,
a file that appears later, and a restart that resumes from the delivered position."""

import json
import os
import threading

import pytest

from databay import Link, Outlet, Update
from databay.inlets import FileInlet, FileInletMode


def _append(path, text):
    with open(path, "a", encoding="utf-8", newline="") as file:
        file.write(text)


@pytest.fixture
def tail(tmp_path):
    """``tail(**kwargs)``: a started TAIL-mode FileInlet on tmp_path/'log.txt'; shut down after."""
    made = []

    def make(path=None, **kwargs):
        inlet = FileInlet(path or tmp_path / "log.txt", FileInletMode.TAIL, **kwargs)
        inlet.try_start()
        made.append(inlet)
        return inlet
    yield make
    for inlet in made:
        inlet.try_shutdown()


def test_default_mode_is_still_line_mode(tmp_path):
    """Without read_mode, FileInlet keeps 0.3.0's LINE mode."""
    assert FileInlet(tmp_path / "x").read_mode is FileInletMode.LINE
    assert FileInlet(tmp_path / "x", "tail").read_mode is FileInletMode.TAIL


def test_every_complete_line_since_the_last_pull(tmp_path, tail, update):
    """95 lines written between two pulls come back in one pull, without line endings."""
    path = tmp_path / "log.txt"
    _append(path, "".join("line %d\n" % n for n in range(95)))
    inlet = tail()
    assert inlet.pull(update) == ["line %d" % n for n in range(95)]
    assert inlet.pull(update) == []
    _append(path, "crlf\r\n\nlast\n")
    assert inlet.pull(update) == ["crlf", "", "last"]


def test_max_lines_per_pull(tmp_path, tail, update):
    """At most max_lines per pull; the rest comes with the next pulls, in order."""
    path = tmp_path / "log.txt"
    _append(path, "".join("%d\n" % n for n in range(2500)))
    inlet = tail(max_lines=1000)
    pulls = [inlet.pull(update) for _ in range(4)]
    assert [len(p) for p in pulls] == [1000, 1000, 500, 0]
    assert [int(x) for p in pulls for x in p] == list(range(2500))


def test_partial_line_is_held_until_its_newline(tmp_path, tail, update):
    """A half-written line is not a record; it becomes one line once its newline arrives."""
    path = tmp_path / "log.txt"
    _append(path, "whole\nhal")
    inlet = tail()
    assert inlet.pull(update) == ["whole"]
    assert inlet.pull(update) == []
    _append(path, "f written\nnext")
    assert inlet.pull(update) == ["half written"]


def test_truncation_restarts_at_the_top(tmp_path, tail, update):
    """After the file is truncated (copytruncate rotation), new lines are read from the top."""
    path = tmp_path / "log.txt"
    _append(path, "one\ntwo\nthree\n")
    inlet = tail()
    assert inlet.pull(update) == ["one", "two", "three"]
    with open(path, "w", encoding="utf-8") as file:
        file.write("new\n")
    assert inlet.pull(update) == ["new"]
    _append(path, "more\n")
    assert inlet.pull(update) == ["more"]


def test_rename_rotation_reads_the_old_rest_then_the_new_file(tmp_path, tail, update):
    """log.txt renamed to log.txt.1 (and written to a little more), a new log.txt created:
    the rest of the old file comes first, then the new file from its top."""
    path = tmp_path / "log.txt"
    _append(path, "a\n")
    inlet = tail()
    assert inlet.pull(update) == ["a"]
    os.rename(path, tmp_path / "log.txt.1")
    _append(tmp_path / "log.txt.1", "late\nunfinished")
    assert inlet.pull(update) == ["late"]  # no new file yet: keep reading the old one
    _append(path, "fresh\n")
    assert inlet.pull(update) == ["unfinished", "fresh"]
    _append(path, "again\n")
    assert inlet.pull(update) == ["again"]


def test_a_file_that_does_not_exist_yet_is_waited_for(tmp_path, tail, update):
    """Starting on a missing file is fine: no records until it appears, then its lines."""
    path = tmp_path / "later.txt"
    inlet = tail(path)
    assert inlet.pull(update) == []
    _append(path, "hello\n")
    assert inlet.pull(update) == ["hello"]


def test_bad_bytes_do_not_stop_the_tail(tmp_path, tail, update):
    """Bytes invalid in the encoding become U+FFFD; later lines still come."""
    path = tmp_path / "log.txt"
    path.write_bytes(b"caf\xff\nok\n")
    assert tail().pull(update) == ["caf\ufffd", "ok"]


def test_restart_of_the_same_inlet_resumes(tmp_path, update):
    """on_shutdown then on_start of one inlet resumes after the last line returned."""
    path = tmp_path / "log.txt"
    _append(path, "1\n2\n")
    inlet = FileInlet(path, "tail")
    inlet.try_start()
    assert inlet.pull(update) == ["1", "2"]
    inlet.try_shutdown()
    _append(path, "3\n")
    inlet.try_start()
    try:
        assert inlet.pull(update) == ["3"]
    finally:
        inlet.try_shutdown()


def test_restart_resumes_from_the_delivered_offset(tmp_path, update):
    """With offset_file, a new inlet (a restarted process) resumes after the last pull whose
    records were delivered; a pull never acknowledged is read again, not lost."""
    path, saved = tmp_path / "log.txt", tmp_path / "log.offset"
    _append(path, "1\n2\n")
    first = FileInlet(path, "tail", offset_file=saved)
    first.try_start()
    delivered, lost = Update([], 0), Update([], 1)
    assert first.pull(delivered) == ["1", "2"]
    first.on_delivered(delivered)
    _append(path, "3\n")
    assert first.pull(lost) == ["3"]  # pulled, never delivered (the process died)
    first.try_shutdown()
    assert json.loads(saved.read_text(encoding="utf-8"))["offset"] == 4
    second = FileInlet(path, "tail", offset_file=saved)
    second.try_start()
    try:
        assert second.pull(update) == ["3"]
    finally:
        second.try_shutdown()


def test_an_older_acknowledgement_never_moves_the_offset_back(tmp_path):
    """Deliveries acknowledged out of order keep the furthest position."""
    path, saved = tmp_path / "log.txt", tmp_path / "log.offset"
    _append(path, "1\n")
    inlet = FileInlet(path, "tail", offset_file=saved)
    inlet.try_start()
    early, late = Update([], 0), Update([], 1)
    inlet.pull(early)
    _append(path, "2\n")
    inlet.pull(late)
    inlet.on_delivered(late)
    inlet.on_delivered(early)
    inlet.try_shutdown()
    assert json.loads(saved.read_text(encoding="utf-8"))["offset"] == 4


def test_tail_in_a_planner_run_sees_every_line_once(tmp_path, run_planner, counting_inlet):
    """A real planner tails a file that a thread keeps writing (lines split across writes):
    every line arrives exactly once, in order."""
    from databay.planners import SchedulePlanner

    path = tmp_path / "log.txt"
    got = []
    done = threading.Event()

    class Collect(Outlet):
        def push(self, records, update):
            got.extend(record.payload for record in records)
            if len(got) >= 300:
                done.set()

    link = Link(FileInlet(path, "tail", max_lines=50), Collect(), interval=0.02)

    def write():
        for number in range(300):
            text = "line %03d\n" % number
            _append(path, text[:4])
            _append(path, text[4:])

    with SchedulePlanner([link]):
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(30)
        assert done.wait(30), "only %d lines arrived" % len(got)
    assert got == ["line %03d" % n for n in range(300)]


@pytest.mark.parametrize("kwargs, error, name", [
    ({"read_mode": "tail", "max_lines": 0}, ValueError, "max_lines"),
    ({"read_mode": "tail", "max_lines": True}, TypeError, "max_lines"),
    ({"read_mode": "tail", "from_end": "yes"}, TypeError, "from_end"),
    ({"read_mode": "line", "offset_file": "x.offset"}, ValueError, "offset_file"),
    ({"read_mode": "tail", "offset_file": "bad\0name"}, ValueError, "offset_file"),
    ({"read_mode": "tail", "encoding": "rot13"}, ValueError, "encoding"),
    ({"read_mode": "tail", "encoding": "hex"}, ValueError, "encoding"),
    ({"read_mode": "shout"}, ValueError, "read_mode"),
])
def test_bad_tail_arguments_name_the_parameter(tmp_path, kwargs, error, name):
    """Each bad argument raises at construction naming the parameter."""
    with pytest.raises(error, match="^%s=" % name):
        FileInlet(tmp_path / "log.txt", **kwargs)


@pytest.mark.parametrize("make", [lambda tmp: tmp, lambda tmp: str(tmp / "a\0b")])
def test_directory_or_nul_filepath_is_refused(tmp_path, make):
    """A directory or a path with a NUL byte is refused at construction, naming filepath."""
    with pytest.raises(ValueError, match="^filepath="):
        FileInlet(make(tmp_path))


def test_offset_is_committed_by_a_real_planner(tmp_path):
    """Under a SchedulePlanner, the link acknowledges delivered pulls (Inlet.on_delivered), so
    offset_file ends at the last delivered line and a restarted inlet reads only new lines."""
    from databay import Inlet
    from databay.planners import SchedulePlanner

    if Inlet.__dict__.get("on_delivered") is None:
        pytest.skip("Inlet.on_delivered (delivery guarantees) is not on this branch yet")
    path, saved = tmp_path / "log.txt", tmp_path / "log.offset"
    _append(path, "".join("%d\n" % n for n in range(50)))
    got = []
    done = threading.Event()

    class Collect(Outlet):
        def push(self, records, update):
            got.extend(record.payload for record in records)
            if len(got) >= 50:
                done.set()

    link = Link(FileInlet(path, "tail", offset_file=saved, max_lines=20), Collect(), interval=0.02)
    with SchedulePlanner([link]):
        assert done.wait(30)
    assert got == [str(n) for n in range(50)]
    assert json.loads(saved.read_text(encoding="utf-8"))["offset"] == os.path.getsize(path)
    _append(path, "50\n")
    again = FileInlet(path, "tail", offset_file=saved)
    again.try_start()
    try:
        assert again.pull(Update([], 0)) == ["50"]
    finally:
        again.try_shutdown()
