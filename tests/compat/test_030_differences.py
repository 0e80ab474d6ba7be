"""Item 12: the intentional differences from 0.3.0 that README's "Coming from databay 0.3.0"
lists hold, their migration lines work, and the section lists every item of the issue."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import urllib.error

import pytest

from databay import Inlet, Link, Outlet, PlannerStateError, Record
from databay.inlets import HttpInlet
from databay.outlets import FileOutlet
from databay.planners import SchedulePlanner
from databay.support.buffers import Buffer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Count(Inlet):
    def __init__(self):
        super().__init__()
        self.n = 0

    def pull(self, update):
        self.n += 1
        return self.n


class Keep(Outlet):
    def __init__(self):
        super().__init__()
        self.payloads = []
        self.shut = 0

    def push(self, records, update):
        self.payloads.extend(record.payload for record in records)

    def on_shutdown(self):
        self.shut += 1


def _python(code):
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_section_covers_every_item():
    """The section names each difference the issue found (and the ones documented elsewhere)."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text[text.index("## Coming from databay 0.3.0"):]
    section = section[:section.index("\n## ", 5)]
    for needle in ["MagicMock(spec=Inlet)", "test_pull", "test_dont_read_metadata",
                   "__repr__", "'__inlet__'", "on_start", "pause()", "link.job",
                   "inlet_concurrency=1", "record.source", "Record(payload=hello",
                   "databay[mongo]", "HTTPError", "PlannerStateError", "ValueError", "interval=0",
                   "shutdown()` before `start()", "Buffers", "FILE_MODE", "conjugate_controllers",
                   "enable_console_logging", "databay[aps]"]:
        assert needle in section, needle
    bullets = re.findall(r"^- .*?(?=^- |^\*\*|\Z)", section, flags=re.M | re.S)
    assert len(bullets) >= 20
    missing = [bullet.splitlines()[0] for bullet in bullets if "→" not in bullet]
    assert not missing, "differences without a migration line: %s" % missing


def test_http_error_status_raises(json_server):
    inlet = HttpInlet(json_server + "/500")
    with pytest.raises(urllib.error.HTTPError, match=r"500.*%s/500" % re.escape(json_server)):
        inlet.pull(None)


def test_second_start_raises_and_links_are_added_once():
    link = Link(Count(), Keep(), interval=60)
    planner = SchedulePlanner(link)
    with pytest.raises(ValueError, match="already added"):
        planner.add_links(link)
    with planner:
        with pytest.raises(PlannerStateError):
            planner.start()


def test_interval_zero_is_rejected():
    with pytest.raises(ValueError, match="interval=0"):
        Link(Count(), Keep(), interval=0)


def test_booleans_must_be_real_booleans():
    with pytest.raises(TypeError, match="copy_records=1"):
        Link(Count(), Keep(), interval=1, copy_records=1)


def test_shutdown_before_start_does_nothing():
    outlet = Keep()
    SchedulePlanner(Link(Count(), outlet, interval=1)).shutdown()
    assert outlet.shut == 0 and outlet.payloads == []


def _buffered_run(reset_first):
    outlet = Keep()
    buffer = Buffer(count_threshold=100)
    planner = SchedulePlanner(Link(Count(), outlet, interval=60, processors=[buffer]))
    started = threading.Event()
    outlet.on_start = started.set
    thread = threading.Thread(target=planner.start)
    thread.start()
    assert started.wait(30)
    link = planner.links[0]
    while link.inlets[0].n == 0 or not buffer.records:  # the immediate transfer has run
        threading.Event().wait(0.01)
    if reset_first:
        buffer.reset()
    planner.shutdown()
    thread.join(30)
    return outlet.payloads


def test_shutdown_flushes_buffers_and_reset_drops_them():
    assert _buffered_run(reset_first=False) == [1]
    assert _buffered_run(reset_first=True) == []


def test_file_mode_w_truncates_once_per_push(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    outlet = FileOutlet(path)
    records = [Record("a", {FileOutlet.FILE_MODE: "w"}), Record("b", {FileOutlet.FILE_MODE: "w"})]
    outlet.push(records, "u")
    assert path.read_text() == "a\nb\n"
    last_only = FileOutlet(path, processors=lambda records: records[-1:])
    last_only._process_and_push(records, "u")
    assert path.read_text() == "b\n"


def test_raising_controller_in_a_conjugate_buffer_holds_records(caplog):
    def broken(records):
        raise RuntimeError("controller broke")

    buffer = Buffer(count_threshold=0, custom_controllers=[broken], conjugate_controllers=True)
    assert buffer([Record(1)]) == []
    assert len(buffer.records) == 1


def test_import_databay_adds_no_log_handler():
    out = _python("import logging, databay, databay.outlets, databay.planners; "
                  "print(logging.getLogger('databay').handlers, logging.getLogger().handlers)")
    assert out.strip() == "[] []"


def test_aps_planner_needs_the_aps_extra():
    out = _python("import sys; sys.modules['apscheduler'] = None\n"
                  "from databay.planners import ApsPlanner\n"
                  "try:\n    ApsPlanner()\nexcept ImportError as e:\n    print(e)")
    assert 'databay[aps]' in out


def test_submodules_030_code_reaches_as_attributes_still_resolve():
    """0.3.0's ``import databay`` made base_planner, misc and the planner modules attributes;
    they load on first access now, and still resolve (``databay.planners.schedule_planner``...)."""
    out = _python("import databay, databay.planners as p\n"
                  "print(databay.base_planner.BasePlanner is databay.BasePlanner,\n"
                  "      databay.misc.__name__ == 'databay.misc',\n"
                  "      p.schedule_planner.SchedulePlanner is p.SchedulePlanner,\n"
                  "      p.aps_planner.ApsPlanner is p.ApsPlanner,\n"
                  "      databay.retry.Retry is databay.Retry,\n"
                  "      {'SchedulePlanner', 'schedule_planner', 'aps_planner'} <= set(dir(p)))")
    assert out.split() == ["True"] * 6, out


def test_link_subclasses_and_extra_attributes_work_with_its_slots():
    """Link's __slots__ keep __dict__ and __weakref__: what 0.3.0 code did with a link still works,
    and the one thing that changed (a second base with slots) fails at once, as documented."""
    import weakref

    from databay import Link

    class Tagged(Link):
        def __init__(self, *args, **kwargs):
            self.note = "kept"
            super().__init__(*args, **kwargs)

    link = Tagged([], [], 5)
    link.extra = 1
    assert (link.note, link.extra, weakref.ref(link)() is link) == ("kept", 1, True)

    class Slotted:
        __slots__ = ("x",)

    with pytest.raises(TypeError, match="lay-out conflict"):
        type("Mixed", (Link, Slotted), {})
