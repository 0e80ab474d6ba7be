"""The status page: one self-contained HTML document rendered from ``planner.stats()``.

No external assets and no framework: inline CSS, inline SVG sparklines and a
few lines of plain JavaScript that re-fetch the page every few seconds and
swap its content (the page also works without JavaScript; reload it). Every
value from the planner is HTML-escaped.
"""

from __future__ import annotations

import html
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Sequence

#: Seconds between refreshes of the page.
REFRESH_SECONDS = 5

_COLOURS = {"ok": "#1a7f37", "warning": "#bf8700", "failing": "#cf222e", "idle": "#6e7781"}
_LABELS = {"ok": "healthy", "warning": "warning", "failing": "failing", "idle": "not run yet"}

_STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       color: #1f2328; background: #f6f8fa; }
header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: #24292f;
         color: #fff; }
header h1 { margin: 0; font-size: 18px; font-weight: 600; }
header .meta { color: #d0d7de; font-size: 13px; }
header #conn { margin-left: auto; color: #ffb3b3; font-size: 13px; }
main { padding: 16px 24px 24px; }
.summary { display: flex; gap: 10px; margin-bottom: 14px; flex-wrap: wrap; }
.pill { padding: 4px 10px; border-radius: 999px; background: #fff; border: 1px solid #d0d7de;
        font-size: 13px; }
.pill b { font-variant-numeric: tabular-nums; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid #d0d7de;
        border-radius: 6px; overflow: hidden; }
th, td { padding: 8px 10px; text-align: left; vertical-align: top; border-bottom: 1px solid #eaeef2; }
th { background: #f6f8fa; font-size: 12px; font-weight: 600; color: #57606a; text-transform: uppercase;
     letter-spacing: .03em; }
tr:last-child td { border-bottom: 0; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
.link-name { font-weight: 600; white-space: nowrap; }
.tags { color: #57606a; font-size: 12px; }
.health { display: inline-flex; align-items: center; gap: 6px; font-weight: 600; white-space: nowrap; }
.dot { width: 10px; height: 10px; border-radius: 50%; display: inline-block; }
tr.link { border-left: 4px solid transparent; }
.muted { color: #6e7781; }
.error { color: #cf222e; max-width: 360px; overflow-wrap: anywhere; }
.error small { display: block; color: #6e7781; }
svg.spark { display: block; }
.spark-label { font-size: 11px; color: #6e7781; }
.empty { padding: 32px; text-align: center; color: #6e7781; background: #fff; border: 1px solid #d0d7de;
         border-radius: 6px; }
"""

_SCRIPT = """
(function () {
  var every = %d * 1000;
  function refresh() {
    fetch(location.pathname, {cache: "no-store"}).then(function (answer) {
      if (!answer.ok) { throw new Error("HTTP " + answer.status); }
      return answer.text();
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("content");
      document.getElementById("content").replaceWith(fresh);
      document.getElementById("conn").textContent = "";
      document.body.setAttribute("data-refreshed", new Date().toISOString());
    }).catch(function (error) {
      document.getElementById("conn").textContent = "no answer from the planner (" + error.message +
        "); retrying";
    }).then(function () { setTimeout(refresh, every); });
  }
  refresh();
})();
""" % REFRESH_SECONDS


def render_page(stats: Dict[str, Any], unhealthy_after: float = 60.0) -> str:
    """The whole status page for a ``planner.stats()`` snapshot."""
    planner = stats["planner"]
    now = planner["time"]
    title = "databay · %s" % planner["type"]
    return "".join((
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>%s</title><style>%s</style></head>" % (_e(title), _STYLE),
        "<body><header><h1>%s</h1>" % _e(title),
        "<span class=\"meta\">refreshes every %d s</span><span id=\"conn\"></span></header>"
        % REFRESH_SECONDS,
        _content(stats, now, unhealthy_after),
        "<script>%s</script></body></html>\n" % _SCRIPT,
    ))


def _content(stats: Dict[str, Any], now: float, unhealthy_after: float) -> str:
    planner = stats["planner"]
    health = planner["health"]
    state = "running" if planner["running"] else (planner["state"] or "stopped")
    pills = ["<span class=\"pill\" id=\"planner-state\" data-state=\"%s\">planner <b>%s</b></span>"
             % (_e(state), _e(state)),
             "<span class=\"pill\">links <b>%d</b></span>" % planner["links"]]
    for key in ("ok", "warning", "failing", "idle"):
        if health.get(key):
            pills.append("<span class=\"pill\"><span class=\"dot\" style=\"background:%s\"></span> "
                         "%s <b>%d</b></span>" % (_COLOURS[key], _LABELS[key], health[key]))
    pills.append("<span class=\"pill muted\">as of %s</span>" % _e(time.strftime("%H:%M:%S",
                                                                                time.localtime(now))))
    if stats["links"]:
        rows = "".join(_row(link, now) for link in stats["links"])
        body = ("<table><thead><tr><th>Link</th><th>Health</th><th>Transfers</th><th>Records</th>"
                "<th>Last transfer</th><th>Next due</th><th>Last error</th><th>Recent</th></tr></thead>"
                "<tbody>%s</tbody></table>" % rows)
    else:
        body = "<div class=\"empty\">This planner holds no links.</div>"
    return "<main id=\"content\"><div class=\"summary\">%s</div>%s</main>" % ("".join(pills), body)


def _row(link: Dict[str, Any], now: float) -> str:
    health = link["health"]
    colour = _COLOURS.get(health, "#6e7781")
    transfers = link["transfers"]
    records = link["records"]
    tags = ", ".join(link["tags"])
    shown_tags = " · tags: %s" % _e(tags) if tags and ".".join(link["tags"]) != link["name"] else ""
    name = ("<div class=\"link-name\">%s</div>" % _e(link["name"]) +
            "<div class=\"tags\">every %s%s</div>" % (_duration(link["interval_seconds"]), shown_tags))
    state = ("<span class=\"health\" style=\"color:%s\"><span class=\"dot\" style=\"background:%s\">"
             "</span>%s</span>" % (colour, colour, _e(_LABELS.get(health, health))))
    if link["failing_since"] is not None:
        state += "<div class=\"muted\">for %s</div>" % _duration(max(0.0, now - link["failing_since"]))
    if transfers["running"]:
        state += "<div class=\"muted\">running now</div>"
    counts = ("%d run · %d failed<br><span class=\"muted\">%d skipped · %d missed</span>"
              % (transfers["run"], transfers["failed"], transfers["skipped"], transfers["missed"]))
    lost = records.get("lost", 0)
    record_text = "%d pulled · %d delivered" % (records["pulled"], records["delivered"])
    extra = ["%d %s" % (records[key], key.replace("_", "-")) for key in
             ("pending", "retried", "dropped", "dead_lettered") if records.get(key)]
    if lost:
        extra.append("%d lost" % lost)
    if extra:
        record_text += "<br><span class=\"muted\">%s</span>" % " · ".join(extra)
    last = link["last_transfer"]
    if last is None:
        last_text = "<span class=\"muted\">none yet</span>"
    else:
        last_text = "%s<br><span class=\"muted\">%s</span>" % (
            _ago(now - last["started_at"]),
            "running" if last["duration_seconds"] is None else "took " + _duration(last["duration_seconds"]))
    due = link["next_due_at"]
    due_text = "<span class=\"muted\">not scheduled</span>" if due is None else _until(due - now)
    error = link["last_error"]
    if error is None:
        error_text = "<span class=\"muted\">none</span>"
    else:
        where = (" in %s" % error["node"]) if error["node"] else ""
        error_text = "<div class=\"error\">%s: %s<small>%s%s</small></div>" % (
            _e(error["type"]), _e(error["message"]), _e(_ago(now - error["at"])), _e(where))
    recent = link["recent"]
    sparks = ("<div class=\"spark-label\">lateness</div>%s<div class=\"spark-label\">records / transfer"
              "</div>%s" % (_line(recent["lateness_seconds"], "#0969da", "s"),
                            _bars(recent["records"], "#8250df")))
    return ("<tr class=\"link\" data-link=\"%s\" data-health=\"%s\" style=\"border-left-color:%s\">"
            "<td>%s</td><td class=\"state\">%s</td><td class=\"num\">%s</td><td class=\"num\">%s</td>"
            "<td class=\"num\">%s</td><td class=\"num\">%s</td><td>%s</td><td>%s</td></tr>"
            % (_e(link["name"]), _e(health), colour, name, state, counts, record_text, last_text,
               due_text, error_text, sparks))


def _line(values: Sequence[float], colour: str, unit: str, width: int = 120, height: int = 24) -> str:
    """An inline SVG polyline of ``values`` (oldest first), scaled to its own maximum."""
    if not values:
        return "<svg class=\"spark\" width=\"%d\" height=\"%d\"></svg>" % (width, height)
    top = max(max(values), 1e-9)
    step = width / max(len(values) - 1, 1)
    points = " ".join("%.1f,%.1f" % (i * step, height - 1 - (max(v, 0.0) / top) * (height - 2))
                      for i, v in enumerate(values))
    return ("<svg class=\"spark\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
            "<title>max %s over the last %d</title><polyline fill=\"none\" stroke=\"%s\" "
            "stroke-width=\"1.5\" points=\"%s\"/></svg>"
            % (width, height, width, height, _e(_duration(max(values))), len(values), colour, points))


def _bars(values: Sequence[int], colour: str, width: int = 120, height: int = 24) -> str:
    """An inline SVG bar chart of ``values`` (oldest first), scaled to its own maximum."""
    if not values:
        return "<svg class=\"spark\" width=\"%d\" height=\"%d\"></svg>" % (width, height)
    top = max(max(values), 1)
    step = width / len(values)
    bars = "".join("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>"
                   % (i * step, height - (v / top) * height, max(step - 1, 0.5), (v / top) * height)
                   for i, v in enumerate(values))
    return ("<svg class=\"spark\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">"
            "<title>max %d records over the last %d</title><g fill=\"%s\">%s</g></svg>"
            % (width, height, width, height, max(values), len(values), colour, bars))


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    seconds = abs(seconds)
    if seconds < 1e-3:
        return "%.0f µs" % (seconds * 1e6)
    if seconds < 1:
        return "%.0f ms" % (seconds * 1e3)
    if seconds < 120:
        return "%.3g s" % seconds
    if seconds < 7200:
        return "%.0f min" % (seconds / 60)
    if seconds < 172800:
        return "%.1f h" % (seconds / 3600)
    return "%.1f days" % (seconds / 86400)


def _ago(seconds: float) -> str:
    return "just now" if seconds < 1 else "%s ago" % _duration(seconds)


def _until(seconds: float) -> str:
    return "now" if seconds <= 0.5 else "in %s" % _duration(seconds)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
