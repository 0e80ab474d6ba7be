"""prometheus_text(planner), read back with the official prometheus_client text parser."""

import re

import pytest

from databay import Link
from databay.metrics import prometheus_text
from databay.planners import SchedulePlanner

parser = pytest.importorskip("prometheus_client.parser", reason="prometheus_client is a dev dependency")


def _families(text):
    return {family.name: family for family in parser.text_string_to_metric_families(text)}


def _value(family, _suffix="", **labels):
    matches = [sample.value for sample in family.samples
               if sample.labels == labels and sample.name == family.name + _suffix]
    assert len(matches) == 1, (family.name, labels, family.samples)
    return matches[0]


@pytest.fixture
def ran(obs):
    """A stopped planner after two forced transfers of a healthy and a failing link."""
    ok = Link(obs.CountInlet(size=3), [obs.KeepOutlet("a"), obs.KeepOutlet("b")], interval=60, tags=["ok"])
    bad = Link(obs.CountInlet(size=1), obs.KeepOutlet("db", failing=True), interval=30, tags=["bad"])
    planner = SchedulePlanner([ok, bad], immediate_transfer=False, ignore_exceptions=True)
    with planner:
        planner.force_transfer()
        planner.force_transfer()
    return planner


def test_the_official_parser_reads_every_counter_back(ran):
    """Counters, gauges and summaries parse, and their values are the stats' values."""
    families = _families(prometheus_text(ran))
    transfers = families["databay_transfers"]  # the parser strips _total from counter families
    assert transfers.type == "counter"
    assert _value(transfers, _suffix="_total", link="ok", result="succeeded") == 2
    assert _value(transfers, _suffix="_total", link="bad", result="failed") == 2
    assert _value(transfers, _suffix="_total", link="bad", result="succeeded") == 0
    assert _value(families["databay_records_pulled"], _suffix="_total", link="ok") == 6
    delivered = families["databay_records_delivered"]
    assert _value(delivered, _suffix="_total", link="ok", outlet="KeepOutlet(a)") == 6
    assert _value(delivered, _suffix="_total", link="bad", outlet="KeepOutlet(db)") == 0
    assert _value(families["databay_records_refused"], _suffix="_total", link="bad") == 2
    calls = families["databay_node_calls"]
    assert _value(calls, _suffix="_total", link="ok", node="CountInlet(in)", role="inlet") == 2
    assert _value(families["databay_node_failures"], _suffix="_total", link="bad", node="KeepOutlet(db)",
                  role="outlet") == 2
    assert _value(families["databay_link_failing"], link="bad") == 1
    assert _value(families["databay_link_interval_seconds"], link="bad") == 30
    assert _value(families["databay_planner_running"], planner="SchedulePlanner") == 0
    duration = families["databay_transfer_duration_seconds"]
    assert duration.type == "summary"
    assert _value(duration, _suffix="_count", link="ok") == 2
    assert _value(duration, link="ok", quantile="0.5") >= 0
    assert families["databay_transfer_duration_max_seconds"].type == "gauge"
    node_time = families["databay_node_call_duration_seconds"]
    assert node_time.type == "summary"
    stats = {link["name"]: {node["name"]: node for node in link["nodes"]} for link in ran.stats()["links"]}
    for link, node, role in (("ok", "CountInlet(in)", "inlet"), ("ok", "KeepOutlet(b)", "outlet"),
                             ("bad", "KeepOutlet(db)", "outlet")):
        assert _value(node_time, _suffix="_count", link=link, node=node, role=role) == 2
        assert _value(node_time, _suffix="_sum", link=link, node=node, role=role) == \
            stats[link][node]["time_spent_seconds"] > 0


def test_the_text_follows_the_naming_conventions(ran):
    """Every family has HELP and TYPE; counters end in _total; units are in the names."""
    text = prometheus_text(ran)
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
    helps = set(re.findall(r"^# HELP (\S+) .+$", text, re.M))
    assert set(types) == helps
    for name, kind in types.items():
        assert name.startswith("databay_")
        assert name.endswith("_total") == (kind == "counter"), name
        if "seconds" in name:
            assert re.search(r"_seconds(_total)?$", name), name
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert line.split("{")[0].split(" ")[0].startswith(tuple(types)), line
    assert text.endswith("\n")


def test_label_values_are_escaped(obs):
    """Quotes, backslashes and newlines in a link's key survive the round trip."""
    weird = 'say "hi"\\now\nnext'
    link = Link(obs.CountInlet(), obs.KeepOutlet(), interval=1, key=weird)
    planner = SchedulePlanner(link)
    link.transfer()
    text = prometheus_text(planner)
    assert 'link="say \\"hi\\"\\\\now\\nnext"' in text
    pulled = _families(text)["databay_records_pulled"]
    assert [sample.labels["link"] for sample in pulled.samples] == [weird]
