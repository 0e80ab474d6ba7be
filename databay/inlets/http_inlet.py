"""HttpInlet: GET a URL with ``urllib`` on each transfer; JSON or text."""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._log import get_logger
from ..inlet import Inlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Union

    from ..update import Update

__all__ = ["HttpInlet"]

_LOGGER = get_logger("databay.HttpInlet")
_ERROR_BODY_LIMIT = 64 * 1024


class HttpInlet(Inlet):
    """Produces the response to a GET request of ``url``, on the standard library.

    ``pull`` is a plain ``def``: the blocking request runs on a worker thread,
    so several HttpInlets of one link fetch concurrently and no event loop is
    needed. With ``json=True`` (default) the body is parsed as JSON, so a JSON
    array gives one record per element and anything else one record; with
    ``json=False`` the body is decoded as text (charset from ``Content-Type``,
    else UTF-8) and gives one record. An empty body gives no records.

    Only ``http`` and ``https`` URLs are accepted, and redirects are followed
    only to them. Proxies from the environment (``http_proxy``...) apply, as
    everywhere in ``urllib``.

    Args:
        url: an ``http://`` or ``https://`` URL.
        json: parse the body as JSON (True) or return it as text (False).
        cacert: path of a CA bundle (PEM) to verify HTTPS servers against, or
            None for the system's default trust store.
        params: query parameters (a mapping, or a list of ``(name, value)``
            pairs) appended to the URL's query string.
        headers: request headers (a mapping), or None.
        metadata: global metadata, as for every :class:`~databay.inlet.Inlet`.
        timeout: seconds to wait for the connection and for each read
            (default 30), or None to wait forever.

    Raises:
        TypeError/ValueError: at construction, an argument has the wrong type
            or value (e.g. a ``ftp://`` URL).
        urllib.error.HTTPError: (pull) the server answered with an error
            status; the message has the status and the URL.
        TimeoutError: (pull) no answer within ``timeout``.
        urllib.error.URLError: (pull) the server could not be reached.
        ValueError: (pull) ``json=True`` and the body is not valid JSON.
    """

    def __init__(self, url: str, json: bool = True, cacert: Union[str, os.PathLike, None] = None,
                 params: Any = None, headers: Optional[Mapping] = None,
                 metadata: Optional[Mapping] = None, *, timeout: Optional[float] = 30) -> None:
        from urllib.parse import urlsplit

        if not isinstance(url, str):
            raise TypeError("url=%r must be a str starting with http:// or https://" % (url,))
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            raise ValueError("url=%r must be an http:// or https:// URL with a host" % (url,))
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
            raise TypeError("timeout=%r must be a number of seconds > 0, or None" % (timeout,))
        if timeout is not None and not 0 < timeout < float("inf"):
            raise ValueError("timeout=%r must be a number of seconds > 0, or None" % (timeout,))
        super().__init__(metadata)
        self.url = url
        self.json = json
        self.cacert = cacert
        self.params = params
        self.headers = headers
        self.timeout = timeout
        self._context: Any = None
        if cacert is not None:
            import ssl

            self._context = ssl.create_default_context(cafile=os.fspath(cacert))

    def pull(self, update: Update) -> Any:
        """GET the URL and return the parsed JSON, the text, or ``[]`` for an empty body."""
        import urllib.error  # imported here, not at module import: it costs milliseconds

        url = self._full_url()
        _LOGGER.debug("%s GET %s", update, url)
        request = _request(url, self.headers)
        try:
            with _opener(self._context).open(request, timeout=self.timeout) as response:
                body = response.read()
                charset = response.headers.get_content_charset() or "utf-8"
        except urllib.error.HTTPError as error:
            try:
                detail = error.read(_ERROR_BODY_LIMIT) if error.fp is not None else b""
            finally:
                error.close()
            raise _http_error(error, url, detail) from None
        except urllib.error.URLError as error:
            if _is_timeout(error.reason):
                raise TimeoutError("GET %s timed out after %s s" % (url, self.timeout)) from error
            raise urllib.error.URLError("%s (GET %s)" % (error.reason, url)) from error
        except OSError as error:
            if _is_timeout(error):
                raise TimeoutError("GET %s timed out after %s s" % (url, self.timeout)) from error
            raise
        _LOGGER.debug("%s received %d bytes from %s", update, len(body), url)
        if not body:
            return []
        if not self.json:
            return body.decode(charset)
        import json

        try:
            return json.loads(body)
        except ValueError as error:
            snippet = body[:200]
            raise ValueError("GET %s: response is not valid JSON (%s); it starts with %r; "
                             "use HttpInlet(..., json=False) for text"
                             % (url, error, snippet)) from None

    def _full_url(self) -> str:
        if not self.params:
            return self.url
        from urllib.parse import urlencode

        query = urlencode(self.params, doseq=True)
        base, _, fragment = self.url.partition("#")
        separator = "&" if "?" in base else "?"
        return base + separator + query + ("#" + fragment if fragment else "")

    def __repr__(self) -> str:
        text = "HttpInlet(url=%r" % (self.url,)
        if self.params:
            text += ", params=%r" % (self.params,)
        if self.cacert:
            text += ", cacert=%r" % (self.cacert,)
        if getattr(self, "_metadata", None):
            text += ", metadata=%r" % (self._metadata,)
        return text + ")"


def _request(url: str, headers: Optional[Mapping]) -> Any:
    import urllib.request

    return urllib.request.Request(url, headers=dict(headers) if headers else {}, method="GET")


def _opener(context: Any) -> Any:
    """An opener speaking only http and https (no file:, ftp: or data: via redirects)."""
    import urllib.request as request

    opener = request.OpenerDirector()
    for handler in (request.ProxyHandler(), request.UnknownHandler(), request.HTTPHandler(),
                    request.HTTPSHandler(context=context), request.HTTPDefaultErrorHandler(),
                    request.HTTPRedirectHandler(), request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _http_error(error: Any, url: str, detail: bytes) -> Exception:
    """A new HTTPError whose message names the status and the URL; its body stays readable."""
    import io
    import urllib.error

    message = "%s for GET %s" % (error.reason, url)
    return urllib.error.HTTPError(url, error.code, message, error.headers, io.BytesIO(detail))


def _is_timeout(reason: Any) -> bool:
    import socket

    return isinstance(reason, (TimeoutError, socket.timeout))
