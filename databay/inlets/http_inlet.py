"""HttpInlet: GET a URL with ``urllib`` on each transfer; JSON or text, within a deadline."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._log import get_logger
from .._validation import without_password
from ..inlet import Inlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, List, Optional, Tuple, Union

    from ..update import Update

__all__ = ["HttpInlet"]

_LOGGER = get_logger("databay.HttpInlet")
_ERROR_BODY_LIMIT = 64 * 1024
_CHUNK = 64 * 1024
_MAX_TIMEOUT = 365 * 24 * 3600.0  # a year: beyond that the socket layer cannot represent it
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
#: Headers that carry credentials whatever the user says.
CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
#: A header or query parameter whose name contains one of these is treated as a secret.
SECRET_WORDS = ("auth", "cookie", "credential", "key", "passw", "secret", "session",
                "signature", "token")
_REDACTED = "***"


class HttpInlet(Inlet):
    """Produces the response to a GET request of ``url``, on the standard library.

    ``pull`` is a plain ``def``: the blocking request runs on a worker thread,
    so several HttpInlets of one link fetch concurrently and no event loop is
    needed. With ``json=True`` (default) the body is parsed as JSON, so a JSON
    array gives one record per element and anything else one record; with
    ``json=False`` the body is decoded as text (charset from ``Content-Type``,
    else UTF-8) and gives one record. An empty body gives no records.

    Safety rules:

    * Only ``http`` and ``https`` URLs are accepted, and redirects are followed
      only to them. Proxies from the environment (``http_proxy``...) apply, as
      everywhere in ``urllib``.
    * **Credentials stay with their origin.** On a redirect to another origin
      (scheme, host or port differ, which includes https to http) the secret
      headers are dropped: ``Authorization``, ``Cookie``,
      ``Proxy-Authorization``, every header whose name contains one of
      :data:`SECRET_WORDS` (``X-Api-Key``...), and every name in ``secrets``.
    * **Secrets never show.** ``repr`` (and so every record's ``__inlet__``
      metadata), log lines and error messages show ``***`` for the password
      of a URL, for secret query parameters (same rule as headers) and
      never show header values.
    * **Bounded pulls.** ``timeout`` is a deadline for the whole pull
      (connecting, redirects, headers and body), and a body longer than
      ``max_bytes`` is refused without being read to the end.
    * Every error names the (redacted) URL and says what went wrong.

    Args:
        url: an ``http://`` or ``https://`` URL.
        json: parse the body as JSON (True) or return it as text (False).
        cacert: path of a CA bundle (PEM) to verify HTTPS servers against, or
            None for the system's default trust store.
        params: query parameters (a mapping, or a list of ``(name, value)``
            pairs) appended to the URL's query string.
        headers: request headers (a mapping), or None.
        metadata: global metadata, as for every :class:`~databay.inlet.Inlet`.
        timeout: seconds the whole pull may take (default 30), or None to
            wait forever (unsafe against a slow or hostile server).
        max_bytes: largest body accepted, in bytes (default 64 MiB), or None
            for no limit (unsafe: a huge body is held in memory).
        secrets: more header or query-parameter names (case-insensitive) to
            treat as secrets, e.g. ``["X-Tenant"]``.

    Raises:
        TypeError/ValueError: at construction, an argument has the wrong type
            or value (e.g. a ``ftp://`` URL, a missing ``cacert`` file).
        urllib.error.HTTPError: (pull) the server answered with an error
            status; the message has the status and the URL.
        TimeoutError: (pull) the pull took longer than ``timeout``.
        urllib.error.URLError: (pull) the server could not be reached.
        ConnectionError: (pull) the connection broke or the answer was not HTTP.
        ValueError: (pull) the body is larger than ``max_bytes``, is not
            valid JSON (``json=True``) or not valid text in its charset.
    """

    def __init__(self, url: str, json: bool = True, cacert: Union[str, os.PathLike, None] = None,
                 params: Any = None, headers: Optional[Mapping] = None,
                 metadata: Optional[Mapping] = None, *, timeout: Optional[float] = 30,
                 max_bytes: Optional[int] = DEFAULT_MAX_BYTES, secrets: Iterable[str] = ()) -> None:
        from urllib.parse import urlsplit

        if not isinstance(url, str):
            raise TypeError("url=%r must be a str starting with http:// or https://" % (url,))
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError("url=%r must be an http:// or https:// URL with a host"
                             % (_redact_url(url, ()),))
        if not isinstance(json, bool):
            raise TypeError("json=%r must be True (parse JSON) or False (text)" % (json,))
        if cacert is False:  # 0.3.0 treated False like None
            cacert = None
        if cacert is not None and not isinstance(cacert, (str, os.PathLike)):
            raise TypeError("cacert=%r must be the path of a CA bundle file, or None" % (cacert,))
        if params is not None and not isinstance(params, Mapping) and not (
                isinstance(params, (list, tuple)) and
                all(isinstance(pair, tuple) and len(pair) == 2 for pair in params)):
            raise TypeError("params=%r must be a mapping, a list of (name, value) pairs, or None"
                            % (params,))
        if headers is not None and not isinstance(headers, Mapping):
            raise TypeError("headers=%r must be a mapping of header names to values, or None"
                            % (headers,))
        if timeout is not None and (isinstance(timeout, bool) or
                                    not isinstance(timeout, (int, float))):
            raise TypeError("timeout=%r must be a number of seconds > 0 and at most %d (a "
                            "year), or None" % (timeout, _MAX_TIMEOUT))
        if timeout is not None and not 0 < timeout <= _MAX_TIMEOUT:
            raise ValueError("timeout=%r must be a number of seconds > 0 and at most %d (a "
                             "year), or None" % (timeout, _MAX_TIMEOUT))
        if max_bytes is not None and (isinstance(max_bytes, bool) or
                                      not isinstance(max_bytes, int)):
            raise TypeError("max_bytes=%r must be an int >= 1 (bytes) or None" % (max_bytes,))
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes=%r must be an int >= 1 (bytes) or None" % (max_bytes,))
        if isinstance(secrets, str) or not all(isinstance(name, str) for name in secrets):
            raise TypeError("secrets=%r must be a list of header or parameter names (str)"
                            % (secrets,))
        super().__init__(metadata)
        self.url = url
        self.json = json
        self.cacert = cacert
        self.params = params
        self.headers = headers
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.secrets = tuple(name.lower() for name in secrets)
        self._context: Any = None
        if cacert is not None:
            self._context = _load_cacert(cacert)
        self._request_url = self._full_url()
        self._shown_url = _redact_url(self._request_url, self.secrets)

    def pull(self, update: Update) -> Any:
        """GET the URL and return the parsed JSON, the text, or ``[]`` for an empty body."""
        import http.client
        import time
        import urllib.error  # imported here, not at module import: it costs milliseconds

        url, shown = self._request_url, self._shown_url
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        _LOGGER.debug("%s GET %s", update, shown)
        request = _request(url, self.headers)
        watchdog = _Watchdog()
        opener = _opener(self._context, self.secrets, watchdog)
        timer = None
        if self.timeout is not None:  # a backstop: slow headers or handshakes end at the deadline
            import threading

            timer = threading.Timer(self.timeout, watchdog.fire)
            timer.name = "databay-HttpInlet-deadline"
            timer.daemon = True
            timer.start()
        try:
            try:
                with opener.open(request, timeout=self.timeout) as response:
                    body = self._read(response, shown, deadline)
                    charset = response.headers.get_content_charset() or "utf-8"
            except Exception:
                if watchdog.fired:  # whatever the shut-down socket raised
                    raise TimeoutError("timed out") from None
                raise
            finally:
                if timer is not None:
                    timer.cancel()
        except urllib.error.HTTPError as error:
            try:
                detail = error.read(_ERROR_BODY_LIMIT) if error.fp is not None else b""
            except (OSError, http.client.HTTPException):
                detail = b""
            finally:
                error.close()
            raise _http_error(error, shown, detail) from None
        except urllib.error.URLError as error:
            if _is_timeout(error.reason):
                raise TimeoutError("GET %s timed out after %s s" % (shown, self.timeout)) from None
            raise urllib.error.URLError("%s (GET %s)" % (error.reason, shown)) from None
        except (http.client.HTTPException, ConnectionError) as error:
            raise ConnectionError("GET %s failed: %s (%s)" % (
                shown, type(error).__name__, error or "the server closed the connection")) from None
        except OSError as error:
            if _is_timeout(error):
                raise TimeoutError("GET %s timed out after %s s" % (shown, self.timeout)) from None
            raise OSError("GET %s failed: %s: %s" % (shown, type(error).__name__, error)) from None
        _LOGGER.debug("%s received %d bytes from %s", update, len(body), shown)
        if not body:
            return []
        if not self.json:
            try:
                return body.decode(charset)
            except LookupError:
                raise ValueError("GET %s: the response declares charset %r, which Python does "
                                 "not know" % (shown, charset)) from None
            except UnicodeDecodeError as error:
                raise ValueError("GET %s: the response is not valid %s text (%s)"
                                 % (shown, charset, error.reason)) from None
        import json

        try:
            return json.loads(body)
        except RecursionError:
            raise ValueError("GET %s: the JSON response is nested too deeply to parse"
                             % (shown,)) from None
        except ValueError as error:
            snippet = body[:200]
            raise ValueError("GET %s: response is not valid JSON (%s); it starts with %r; "
                             "use HttpInlet(..., json=False) for text"
                             % (shown, error, snippet)) from None

    def _read(self, response: Any, shown: str, deadline: Optional[float]) -> bytes:
        """The body, read chunk by chunk within ``deadline`` and ``max_bytes``."""
        import time

        limit = self.max_bytes
        declared = response.headers.get("Content-Length", "")
        if limit is not None and declared.strip().isdigit() and int(declared) > limit:
            raise ValueError("GET %s: the response has %s bytes, more than max_bytes=%d; raise "
                             "max_bytes if that is expected" % (shown, declared.strip(), limit))
        sock = _socket_of(response)
        chunks: List[bytes] = []
        total = 0
        while True:
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("GET %s timed out after %s s (%d bytes of the body read)"
                                       % (shown, self.timeout, total))
                if sock is not None and not response.isclosed():  # closed once the body is read
                    sock.settimeout(remaining)
            chunk = response.read1(_CHUNK)
            if not chunk:
                missing = getattr(response, "length", None)
                if missing:  # read1 does not raise IncompleteRead itself
                    raise ConnectionError("GET %s failed: IncompleteRead (the server closed the "
                                          "connection after %d bytes, %d bytes short of its "
                                          "Content-Length)" % (shown, total, missing))
                return b"".join(chunks)
            total += len(chunk)
            if limit is not None and total > limit:
                raise ValueError("GET %s: the response is longer than max_bytes=%d; raise "
                                 "max_bytes if that is expected" % (shown, limit))
            chunks.append(chunk)

    def _full_url(self) -> str:
        if not self.params:
            return self.url
        from urllib.parse import urlencode

        query = urlencode(self.params, doseq=True)
        base, _, fragment = self.url.partition("#")
        separator = "&" if "?" in base else "?"
        return base + separator + query + ("#" + fragment if fragment else "")

    def __repr__(self) -> str:
        secrets = getattr(self, "secrets", ())
        text = "HttpInlet(url=%r" % (_redact_url(self.url, secrets),)
        if self.params:
            text += ", params=%r" % (_redact_params(self.params, secrets),)
        if self.cacert:
            text += ", cacert=%r" % (self.cacert,)
        if getattr(self, "_metadata", None):
            text += ", metadata=%r" % (self._metadata,)
        return text + ")"


def is_secret(name: str, secrets: Tuple[str, ...] = ()) -> bool:
    """Whether a header or query parameter called ``name`` carries a secret."""
    lower = str(name).lower()
    return lower in CREDENTIAL_HEADERS or lower in secrets or \
        any(word in lower for word in SECRET_WORDS)


def _redact_params(params: Any, secrets: Tuple[str, ...]) -> Any:
    pairs = params.items() if isinstance(params, Mapping) else params
    redacted = [(name, _REDACTED if is_secret(name, secrets) else value) for name, value in pairs]
    return dict(redacted) if isinstance(params, Mapping) else redacted


def _redact_url(url: str, secrets: Tuple[str, ...]) -> str:
    """``url`` with the password of its user part and its secret query values as ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc = without_password(parts.netloc, _REDACTED)
    query = parts.query
    if query:
        fields = []
        for field in query.split("&"):
            name, equals, _ = field.partition("=")
            from urllib.parse import unquote_plus

            fields.append(name + "=" + _REDACTED if equals and is_secret(unquote_plus(name), secrets)
                          else field)
        query = "&".join(fields)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _load_cacert(cacert: Any) -> Any:
    import ssl

    path = os.fspath(cacert)
    if not os.path.isfile(path):
        raise ValueError("cacert=%r is not an existing file; give the path of a CA bundle (PEM) "
                         "or None for the system's trust store" % (cacert,))
    try:
        return ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError) as error:
        raise ValueError("cacert=%r could not be loaded as a CA bundle (PEM): %s"
                         % (cacert, error)) from None


def _request(url: str, headers: Optional[Mapping]) -> Any:
    import urllib.request

    return urllib.request.Request(url, headers=dict(headers) if headers else {}, method="GET")


def _origin(url: str) -> Tuple[str, str, Optional[int]]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


class _Watchdog:
    """Shuts down the sockets of one pull once its deadline passes (``fire``), so a server
    that drips its headers or handshake cannot hold the pull past the deadline."""

    def __init__(self) -> None:
        import threading

        self.fired = False
        self._sockets: List[Any] = []
        self._lock = threading.Lock()

    def watch(self, sock: Any) -> None:
        with self._lock:
            self._sockets.append(sock)
            if not self.fired:
                return
        self._shut(sock)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            self._shut(sock)

    @staticmethod
    def _shut(sock: Any) -> None:
        import socket

        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed, or detached by the TLS wrapper
            pass


def _opener(context: Any, secrets: Tuple[str, ...], watchdog: _Watchdog) -> Any:
    """An opener speaking only http and https (no file:, ftp: or data: via redirects)
    whose redirects drop the secret headers when they leave the origin, and whose
    connections report their sockets to ``watchdog``."""
    import http.client
    import socket
    import urllib.request as request

    def create_connection(*args: Any, **kwargs: Any) -> Any:
        sock = socket.create_connection(*args, **kwargs)
        watchdog.watch(sock)
        return sock

    class Plain(http.client.HTTPConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = create_connection

    class Secure(http.client.HTTPSConnection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = create_connection

        def connect(self) -> None:
            super().connect()
            watchdog.watch(self.sock)  # the TLS socket replaces the plain one

    class PlainHandler(request.HTTPHandler):
        def http_open(self, req: Any) -> Any:
            return self.do_open(Plain, req)

    class SecureHandler(request.HTTPSHandler):
        def https_open(self, req: Any) -> Any:
            return self.do_open(Secure, req, context=context)

    class OriginRedirects(request.HTTPRedirectHandler):
        def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                             newurl: str) -> Any:
            new = super().redirect_request(req, fp, code, msg, headers, newurl)
            if new is not None and _origin(new.full_url) != _origin(req.full_url):
                for name in [name for name in new.headers if is_secret(name, secrets)]:
                    del new.headers[name]
                _LOGGER.debug("redirect to another origin: %d secret header(s) dropped",
                              len([name for name in req.headers if is_secret(name, secrets)]))
            return new

    opener = request.OpenerDirector()
    for handler in (request.ProxyHandler(), request.UnknownHandler(), PlainHandler(),
                    SecureHandler(context=context), request.HTTPDefaultErrorHandler(),
                    OriginRedirects(), request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _socket_of(response: Any) -> Any:
    """The socket under an ``http.client`` response, to bound each read (None if hidden)."""
    raw = getattr(getattr(response, "fp", None), "raw", None)
    sock = getattr(raw, "_sock", None)
    return sock if hasattr(sock, "settimeout") else None


def _http_error(error: Any, url: str, detail: bytes) -> Exception:
    """A new HTTPError whose message names the status and the URL; its body stays readable."""
    import io
    import urllib.error

    message = "%s for GET %s" % (error.reason, url)
    return urllib.error.HTTPError(url, error.code, message, error.headers, io.BytesIO(detail))


def _is_timeout(reason: Any) -> bool:
    import socket

    return isinstance(reason, (TimeoutError, socket.timeout))
