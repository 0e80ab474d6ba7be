"""What the examples share: where they write, and a stand-in JSON API served on 127.0.0.1."""

import http.server
import json
import logging
import os
import tempfile
import threading

_LOGGER = logging.getLogger("examples")


def output_dir():
    """``$DATABAY_EXAMPLES_DIR``, or ``databay-examples`` in the temporary directory; created if needed."""
    path = os.environ.get("DATABAY_EXAMPLES_DIR") or os.path.join(tempfile.gettempdir(), "databay-examples")
    os.makedirs(path, exist_ok=True)
    return path


def serve_json(make_body, path="/"):
    """Serve ``make_body(call_number)`` as JSON at ``path`` on 127.0.0.1; return the URL.

    The server runs on a daemon thread, so it ends with the process: it stands
    in for the real API a deployment would configure.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        calls = 0

        def do_GET(self):  # noqa: N802 - the http.server API
            if self.path != path:
                self.send_error(404)
                return
            type(self).calls += 1
            body = json.dumps(make_body(self.calls)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            """Quiet: the pipeline's log is what matters."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, name="stand-in-api", daemon=True).start()
    url = "http://127.0.0.1:%d%s" % (server.server_address[1], path)
    _LOGGER.info("Serving a stand-in API at %s", url)
    return url
