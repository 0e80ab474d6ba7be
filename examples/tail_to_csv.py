"""Follow a growing web-server log into a CSV file, in batches through a Buffer.

Run it::

    python -m databay run examples.tail_to_csv:planner          # follow the log until Ctrl-C
    python -m databay run examples.tail_to_csv:planner --once   # take what is there, then exit

Configure it with environment variables:

* ``ACCESS_LOG``: the log file to follow (common log format, as nginx and Apache
  write it). Unset: this example writes a fresh sample ``access.log`` of 20
  requests into ``DATABAY_EXAMPLES_DIR`` (replacing an earlier one, and
  forgetting the position saved for it) and follows that.
* ``DATABAY_EXAMPLES_DIR``: where ``access.log``, ``requests.csv`` and the saved
  position ``access.log.offset`` go.

Every second the link reads the log lines completed since the last read
(``FileInlet`` in TAIL mode: a half-written last line waits for its newline;
rotation and truncation are followed like ``tail -F``) and parses each into a
row (``client``, ``time``, ``method``, ``path``, ``status``, ``bytes``); a
Buffer holds rows until it has more than 50 or 30 s have passed, then writes
them to ``requests.csv`` in one go. A shutdown (Ctrl-C, SIGTERM, the end of
``--once``) writes what the Buffer still holds. The position after the last
delivered line is saved in ``access.log.offset``, so a restart continues where
the previous run stopped. With the sample log, ``--once`` adds 20 rows. A line
that does not parse is logged and skipped.
"""

import logging
import os
import re

from databay import Link
from databay.inlets import FileInlet, FileInletMode
from databay.outlets import CsvOutlet
from databay.planners import SchedulePlanner
from databay.support.buffers import Buffer

from ._local import output_dir

_LOGGER = logging.getLogger("examples.tail_to_csv")

# 127.0.0.1 - - [30/Nov/2026:04:00:00 +0000] "GET /index.html HTTP/1.1" 200 512
_LINE = re.compile(r'(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" '
                   r'(?P<status>\d{3}) (?P<bytes>\d+|-)')


def parse(records):
    """Link processor: a log line becomes a dict row; a line that does not parse is logged and dropped."""
    rows = []
    for record in records:
        match = _LINE.match(record.payload)
        if match is None:
            _LOGGER.warning("Skipped a line that is not in common log format: %r", record.payload)
            continue
        record.payload = dict(match.groupdict(), status=int(match["status"]),
                              bytes=0 if match["bytes"] == "-" else int(match["bytes"]))
        rows.append(record)
    return rows


def write_sample_log(path, requests=20):
    """Write a small access log in common log format (the stand-in for a real server's)."""
    paths = ["/", "/index.html", "/api/items", "/api/items/7", "/missing"]
    with open(path, "w", encoding="utf-8") as log:
        for n in range(requests):
            status = 404 if paths[n % 5] == "/missing" else 200
            log.write('10.0.0.%d - - [30/Nov/2026:04:%02d:00 +0000] "%s %s HTTP/1.1" %d %d\n'
                      % (n % 7 + 1, n, "POST" if n % 4 == 3 else "GET", paths[n % 5], status, 100 + n * 10))


def planner():
    """Build the pipeline: FileInlet (TAIL) -> parse -> Buffer -> CsvOutlet."""
    folder = output_dir()
    log = os.environ.get("ACCESS_LOG")
    offset = os.path.join(folder, os.path.basename(log or "access.log") + ".offset")
    if not log:
        log = os.path.join(folder, "access.log")
        write_sample_log(log)
        if os.path.exists(offset):
            os.remove(offset)  # a fresh sample: start from its first line
    target = os.path.join(folder, "requests.csv")
    _LOGGER.info("Following %s into %s", log, target)
    inlet = FileInlet(log, read_mode=FileInletMode.TAIL, offset_file=offset)
    link = Link(inlet, CsvOutlet(target), interval=1, tags="access-log",
                processors=[parse, Buffer(count_threshold=50, time_threshold=30)])
    return SchedulePlanner(link)
