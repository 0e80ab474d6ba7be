"""Prometheus metrics of a planner, as text: ``prometheus_text(planner)``.

Renders ``planner.stats()`` in the Prometheus text exposition format (version
0.0.4) without any client library: ``# HELP`` and ``# TYPE`` lines, counters
ending in ``_total``, units in names (``_seconds``), labels ``link``, ``outlet``,
``node`` and ``role`` with their values escaped. Serve it yourself or with
``planner.serve_status()`` (``/metrics``).
"""

from __future__ import annotations

import math

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    Sample = Tuple[str, Dict[str, str], Any]  # name suffix, labels, value

__all__ = ["CONTENT_TYPE", "prometheus_text"]

#: The Content-Type to serve :func:`prometheus_text` with.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Record counters named by the delivery stages beyond pulled / delivered, with their help.
_RECORD_HELP = {
    "refused": "Records an outlet failed to take (without a retry queue).",
    "rejected": "Records an outlet rejected as invalid (RejectedRecords) without a dead letter.",
    "retried": "Records pushed again from a retry queue.",
    "dropped": "Records dropped from a full retry queue.",
    "expired": "Records given up after their last retry attempt.",
    "abandoned": "Records left in retry queues at shutdown.",
    "dead_lettered": "Records handed to the dead-letter outlet.",
    "lost": "Records that left the link undelivered, for any reason.",
}


def prometheus_text(planner: Any) -> str:
    """The metrics of ``planner`` (any BasePlanner) in the Prometheus text format."""
    return render(planner.stats())


def render(stats: Dict[str, Any]) -> str:
    """Render a ``planner.stats()`` snapshot (see :func:`prometheus_text`)."""
    out: List[str] = []
    planner = stats["planner"]
    links = stats["links"]
    kind = {"planner": planner["type"]}
    _family(out, "databay_planner_running", "gauge", "Whether the planner is running (1) or not (0).",
            [("", kind, int(planner["running"]))])
    _family(out, "databay_links", "gauge", "Links held by the planner, by health.",
            [("", {"health": health}, count) for health, count in planner["health"].items()])

    def per_link(pick: Any, extra: Optional[Dict[str, str]] = None) -> List[Sample]:
        samples = []
        for link in links:
            value = pick(link)
            if value is not None:
                samples.append(("", {"link": link["name"], **(extra or {})}, value))
        return samples

    _family(out, "databay_link_failing", "gauge", "Whether the link's last transfer failed (1) or not (0).",
            per_link(lambda link: int(link["health"] == "failing")))
    _family(out, "databay_link_interval_seconds", "gauge", "Seconds between the link's transfers.",
            per_link(lambda link: link["interval_seconds"]))
    _family(out, "databay_transfers_total", "counter", "Transfers that ended, by result.",
            per_link(lambda link: link["transfers"]["succeeded"], {"result": "succeeded"}) +
            per_link(lambda link: link["transfers"]["failed"], {"result": "failed"}))
    _family(out, "databay_transfers_skipped_total", "counter",
            "Due transfers not run because the previous one was still running or queued.",
            per_link(lambda link: link["transfers"]["skipped"]))
    _family(out, "databay_transfers_missed_total", "counter",
            "Due transfers coalesced into a later one after a stall.",
            per_link(lambda link: link["transfers"]["missed"]))
    _family(out, "databay_transfer_running", "gauge", "Whether a transfer of the link is running.",
            per_link(lambda link: int(link["transfers"]["running"])))
    _summary(out, "databay_transfer_duration_seconds",
             "Seconds planner-run transfers took (quantiles over the recent window).",
             links, "duration_seconds")
    _summary(out, "databay_transfer_lateness_seconds",
             "Seconds scheduled transfers started after their due time (quantiles over the recent "
             "window).", links, "lateness_seconds")
    _family(out, "databay_last_transfer_start_timestamp_seconds", "gauge",
            "When the link's last planner-run transfer started (Unix time).",
            per_link(lambda link: (link["last_transfer"] or {}).get("started_at")))
    _family(out, "databay_last_success_timestamp_seconds", "gauge",
            "When the link's last successful transfer ended (Unix time).",
            per_link(lambda link: link["last_success_at"]))
    _family(out, "databay_next_transfer_timestamp_seconds", "gauge",
            "When the link's next transfer is due (Unix time).",
            per_link(lambda link: link["next_due_at"]))
    _family(out, "databay_records_pulled_total", "counter", "Records the link's inlets returned.",
            per_link(lambda link: link["records"]["pulled"]))
    _family(out, "databay_records_delivered_total", "counter",
            "Records an outlet took (its push succeeded).",
            _per_node(links, "outlet", "records_delivered"))
    counters = sorted({key for link in links for key in link["records"]} -
                      {"pulled", "delivered", "pending"})
    for key in counters:
        _family(out, "databay_records_%s_total" % _name(key), "counter",
                _RECORD_HELP.get(key, "Records counted as %s." % key),
                per_link(lambda link, key=key: link["records"].get(key)))
    _family(out, "databay_records_pending", "gauge", "Records waiting in an outlet's retry queue.",
            _per_node(links, "outlet", "records_pending"))
    _family(out, "databay_records_pending_oldest_age_seconds", "gauge",
            "Age of the oldest record waiting in an outlet's retry queue.",
            _per_node(links, "outlet", "oldest_pending_age_seconds"))
    _family(out, "databay_node_calls_total", "counter",
            "Calls of a node by the link: pulls of an inlet, pushes to an outlet.",
            _per_node(links, None, "calls"))
    _family(out, "databay_node_failures_total", "counter", "Calls of a node that raised.",
            _per_node(links, None, "failures"))
    _family(out, "databay_node_call_duration_seconds", "summary",
            "Seconds a node's calls took in planner-run transfers (_sum), and how many were timed (_count).",
            [("_sum", labels, value) for _, labels, value in _per_node(links, None, "time_spent_seconds")] +
            [("_count", labels, value) for _, labels, value in _per_node(links, None, "timed_calls")])
    return "\n".join(out) + "\n"


def _per_node(links: List[Dict[str, Any]], role: Optional[str], field: str) -> List[Sample]:
    samples = []
    for link in links:
        for node in link["nodes"]:
            value = node.get(field)
            if value is None or (role is not None and node["role"] != role):
                continue
            labels = {"link": link["name"]}
            labels.update({"outlet": node["name"]} if role == "outlet" else
                          {"node": node["name"], "role": node["role"]})
            samples.append(("", labels, value))
    return samples


def _summary(out: List[str], name: str, help_text: str, links: List[Dict[str, Any]], field: str) -> None:
    samples: List[Sample] = []
    maxima: List[Sample] = []
    for link in links:
        summary = link[field]
        labels = {"link": link["name"]}
        for quantile, key in (("0.5", "p50"), ("0.99", "p99")):
            if summary[key] is not None:
                samples.append(("", {**labels, "quantile": quantile}, summary[key]))
        samples.append(("_sum", labels, summary["sum"]))
        samples.append(("_count", labels, summary["count"]))
        if summary["max"] is not None:
            maxima.append(("", labels, summary["max"]))
    _family(out, name, "summary", help_text, samples)
    _family(out, name.replace("_seconds", "_max_seconds"), "gauge",
            "Largest value over the recent window of %s." % name, maxima)


def _family(out: List[str], name: str, kind: str, help_text: str, samples: List[Sample]) -> None:
    """One metric family: HELP, TYPE and its samples (nothing when it has none)."""
    if not samples:
        return
    out.append("# HELP %s %s" % (name, help_text.replace("\\", "\\\\").replace("\n", "\\n")))
    out.append("# TYPE %s %s" % (name, kind))
    for suffix, labels, value in samples:
        if labels:
            pairs = ",".join('%s="%s"' % (key, _escape(str(text))) for key, text in labels.items())
            out.append("%s%s{%s} %s" % (name, suffix, pairs, _number(value)))
        else:
            out.append("%s%s %s" % (name, suffix, _number(value)))


def _escape(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _name(text: str) -> str:
    """``text`` reduced to the characters a metric name may hold."""
    return "".join(char if char.isascii() and (char.isalnum() or char == "_") else "_" for char in text)


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
