"""planner.subscribe(): which events arrive, in what order, and what a bad callback cannot break."""

import logging

import pytest

import databay.events
from databay import Link
from databay.events import KINDS
from databay.planners import SchedulePlanner


def _planner(links):
    return SchedulePlanner(links, immediate_transfer=False, ignore_exceptions=True)


def test_a_planner_run_delivers_its_events_in_order(obs):
    """Planner start/stop, node start/stop and each transfer's start and end, in order."""
    ok = Link(obs.CountInlet(size=2, label="a"), obs.KeepOutlet("a"), interval=3600, tags=["ok"])
    bad = Link(obs.CountInlet(label="b"), obs.KeepOutlet("b", failing=True), interval=3600, tags=["bad"])
    planner = _planner([ok, bad])
    seen = []
    planner.subscribe(seen.append)
    with planner:
        planner.force_transfer()
    kinds = [(event.kind, None if event.link is None else event.link.tags[0]) for event in seen]
    assert kinds == [
        ("node_started", "ok"), ("node_started", "ok"), ("node_started", "bad"), ("node_started", "bad"),
        ("planner_started", None),
        ("transfer_started", "ok"), ("transfer_finished", "ok"),
        ("transfer_started", "bad"), ("transfer_failed", "bad"),
        ("planner_stopping", None),
        ("node_shut_down", "ok"), ("node_shut_down", "ok"), ("node_shut_down", "bad"),
        ("node_shut_down", "bad"),
        ("planner_stopped", None),
    ]
    finished = seen[6]
    assert finished.records == 2 and finished.duration >= 0 and finished.planner is planner
    assert finished.lateness is None  # on demand
    assert seen[0].node is ok.inlets[0]
    assert all(event.time > 0 for event in seen)
    assert finished.as_dict()["kind"] == "transfer_finished"


def test_kinds_filter_and_unsubscribe(obs):
    """kinds= selects events; unsubscribe() and planner.unsubscribe() stop them."""
    link = Link(obs.CountInlet(), obs.KeepOutlet(), interval=3600)
    planner = _planner(link)
    finished, everything = [], []
    subscription = planner.subscribe(finished.append, kinds="transfer_finished")
    planner.subscribe(everything.append, kinds=["planner_started", "transfer_started"])
    with planner:
        planner.force_transfer()
        assert [event.kind for event in finished] == ["transfer_finished"]
        assert [event.kind for event in everything] == ["planner_started", "transfer_started"]
        assert subscription.unsubscribe() is True and subscription.unsubscribe() is False
        assert planner.unsubscribe(everything.append) is True
        assert planner.unsubscribe(everything.append) is False
        planner.force_transfer()
    assert len(finished) == 1 and len(everything) == 2


def test_bad_subscriptions_are_refused_with_clear_messages(obs):
    """kinds must name known kinds; callback must be callable."""
    planner = _planner([])
    with pytest.raises(ValueError, match=r"kinds=\['transfer_done'\]: unknown transfer_done; accepted"):
        planner.subscribe(print, kinds=["transfer_done"])
    with pytest.raises(ValueError, match="kinds=.*empty"):
        planner.subscribe(print, kinds=[])
    with pytest.raises(TypeError, match="kinds=5"):
        planner.subscribe(print, kinds=5)
    with pytest.raises(TypeError, match="callback='print' is not callable"):
        planner.subscribe("print")
    assert len(KINDS) == 13


def test_a_raising_callback_is_logged_and_breaks_nothing(obs, caplog):
    """The transfer delivers, later subscribers still hear the event, the error is logged."""
    outlet = obs.KeepOutlet()
    link = Link(obs.CountInlet(size=3), outlet, interval=3600)
    planner = _planner(link)
    heard = []

    def broken(event):
        raise RuntimeError("subscriber bug")

    planner.subscribe(broken)
    planner.subscribe(heard.append)
    with caplog.at_level(logging.ERROR, logger="databay.events"):
        with planner:
            planner.force_transfer()
    assert len(outlet.records) == 3
    assert link.stats()["transfers"]["succeeded"] == 1
    assert "transfer_finished" in [event.kind for event in heard]
    messages = [record.getMessage() for record in caplog.records if record.name == "databay.events"]
    assert any("subscriber bug" in message and "transfer_finished" in message for message in messages)


def test_with_nobody_subscribed_no_event_is_built(obs, monkeypatch):
    """No subscriber: transfers, skips and planner events never construct an Event."""
    def forbidden(*args, **kwargs):
        raise AssertionError("an Event was built with nobody listening")

    monkeypatch.setattr(databay.events, "Event", forbidden)
    link = Link(obs.CountInlet(), obs.KeepOutlet(), interval=3600)
    planner = _planner(link)
    with planner:
        planner.force_transfer()
    assert link.stats()["transfers"]["succeeded"] == 1


def test_a_subscription_works_as_a_context_manager(obs):
    link = Link(obs.CountInlet(), obs.KeepOutlet(), interval=3600)
    planner = _planner(link)
    seen = []
    with planner:
        with planner.subscribe(seen.append, kinds={"transfer_started"}):
            planner.force_transfer()
        planner.force_transfer()
    assert len(seen) == 1
