"""The status page in a real browser: headless Chromium renders it, runs its script, we read the DOM.

scripts/setup.d/chromium.sh installs Debian's chromium where the tests run as
root; elsewhere these tests skip and say why. The screenshot is kept as a test
artefact (pytest's tmp dir; set DATABAY_SCREENSHOT=path to also copy it there,
e.g. docs/status-page.png).
"""

import os
import re
import shutil
import subprocess
import threading
from html.parser import HTMLParser

import pytest

from databay import Link
from databay.planners import SchedulePlanner

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                                "(scripts/setup.d/chromium.sh installs it where run as root)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars"]


def _chromium(tmp_path, *args):
    profile = tmp_path / ("profile-%d" % len(list(tmp_path.glob("profile-*"))))
    profile.mkdir()
    result = subprocess.run([CHROMIUM, *FLAGS, "--user-data-dir=%s" % profile, *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


class _Rows(HTMLParser):
    """Collects the link rows (data-link, data-health, text) and the body's attributes."""

    def __init__(self):
        super().__init__()
        self.rows = {}
        self.body = {}
        self._row = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        elif tag == "tr" and "data-link" in attrs:
            self._row = attrs["data-link"]
            self.rows[self._row] = {"health": attrs["data-health"], "text": ""}

    def handle_endtag(self, tag):
        if tag == "tr":
            self._row = None

    def handle_data(self, data):
        if self._row is not None:
            self.rows[self._row]["text"] += data


class Sized:
    """Pull sizes that vary, so the records sparkline has a shape."""

    def __init__(self):
        self.sizes = iter([3, 5, 4, 8, 6, 9, 7, 10, 8, 12] * 100)

    def __call__(self, update):
        return next(self.sizes)


def test_the_page_shows_each_link_with_its_health_in_a_real_browser(obs, tmp_path):
    """A failing link and a healthy one: Chromium's rendered DOM (after the script ran) shows both."""
    orders_in = obs.CountInlet(label="orders-api")
    sizes = Sized()
    orders_in.pull = lambda update: list(range(sizes(update)))
    healthy = Link(orders_in, [obs.KeepOutlet("warehouse"), obs.KeepOutlet("archive")],
                   interval=0.5, tags=["orders"])
    failing = Link(obs.CountInlet(size=2, label="weather-api"), obs.KeepOutlet("weather-db", failing=True),
                   interval=0.5, tags=["weather"])
    idle = Link(obs.CountInlet(label="nightly"), obs.KeepOutlet("reports"), interval=86400,
                tags=["nightly-report"], immediate_transfer=False)
    planner = SchedulePlanner([healthy, failing, idle], ignore_exceptions=True)
    enough = threading.Event()

    def count(event):
        if event.link is failing and failing.stats()["transfers"]["run"] >= 6:
            enough.set()

    planner.subscribe(count, kinds="transfer_failed")
    with planner:
        server = planner.serve_status(port=0)
        assert enough.wait(60), "the planner did not run 6 transfers within 60 s"
        dom = _chromium(tmp_path, "--virtual-time-budget=4000", "--dump-dom", server.url)
        screenshot = tmp_path / "status-page.png"
        _chromium(tmp_path, "--virtual-time-budget=4000", "--window-size=1280,560",
                  "--screenshot=%s" % screenshot, server.url)
    page = _Rows()
    page.feed(dom)
    assert page.body.get("data-refreshed"), "the page's refresh script did not run"
    assert set(page.rows) == {"orders", "weather", "nightly-report"}
    # healthy: "ok", or "warning" if this busy machine made it skip or miss a transfer
    label = {"ok": "healthy", "warning": "warning"}[page.rows["orders"]["health"]]
    assert label in page.rows["orders"]["text"] and "failing" not in page.rows["orders"]["text"]
    assert page.rows["weather"]["health"] == "failing" and "failing" in page.rows["weather"]["text"]
    assert "ValueError: database weather-db refused the batch" in page.rows["weather"]["text"]
    assert page.rows["nightly-report"]["health"] == "idle"
    assert re.search(r"\d+ pulled", page.rows["orders"]["text"])
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("DATABAY_SCREENSHOT"):
        shutil.copyfile(screenshot, os.environ["DATABAY_SCREENSHOT"])
