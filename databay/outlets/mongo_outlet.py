"""MongoOutlet: record payloads become MongoDB documents (extra ``databay[mongo]``)."""

from __future__ import annotations

from collections.abc import Mapping

from .._log import get_logger
from .._validation import short_repr
from ..outlet import MetadataKey, Outlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Union

    from ..record import Record
    from ..update import Update

__all__ = ["MongoOutlet"]

_LOGGER = get_logger("databay.MongoOutlet")

#: The integers a BSON document can hold (int64).
BSON_INT_MIN, BSON_INT_MAX = -(2 ** 63), 2 ** 63 - 1


class MongoOutlet(Outlet):
    """Inserts record payloads into MongoDB collections, as databay 0.3.0's MongoOutlet did.

    * **Documents:** a payload that is a list gives one document per element;
      any other payload is one document. Documents must be mappings with str
      keys (e.g. dicts).
    * **Collections:** each record goes to the collection named by its
      metadata key :attr:`MONGODB_COLLECTION`, else to ``collection``; records
      are grouped per collection and each group is written with one
      ``insert_many`` (in push order). MongoDB creates missing collections.
    * **Payloads are never changed.** PyMongo adds ``_id`` to the dicts it
      inserts; the outlet inserts shallow copies, so the records (and any
      other outlet sharing them with ``copy_records=False``) stay as they were.
    * **Checked before writing.** Every document of a push is checked (and
      encoded to BSON) before the first write: a payload that is not a
      mapping raises TypeError, an int outside BSON's 64-bit range raises
      ValueError naming the record, the key path and the value, and nothing of
      that push is written. (Once writing has begun, a server error can leave
      the collections written before it: MongoDB gives no transaction here.)
    * **Connections:** ``on_start`` opens a ``pymongo.MongoClient(host=host,
      port=port)`` and ``on_shutdown`` closes it. A push while the outlet is
      not started (e.g. a ``link.transfer()`` outside a planner) still
      writes: it opens a client for that push and closes it afterwards.
      (databay 0.3.0 skipped such a push silently.)

    Needs PyMongo (``pip install "databay[mongo]"``), imported only when a
    MongoOutlet is constructed.

    Args:
        database_name: the database to write to (default ``'databay'``).
        collection: collection for records without :attr:`MONGODB_COLLECTION`
            (default ``'default_collection'``).
        host: a host name, a ``mongodb://`` URI, or a list of them; None lets
            PyMongo use ``localhost``.
        port: the port; None lets PyMongo use 27017.
        processors: outlet processors, as for every :class:`~databay.outlet.Outlet`.

    Raises:
        ImportError: PyMongo is not installed.
        TypeError/ValueError: an argument (or, at push, a payload, a value or a
            collection name) is invalid; nothing of that push is written.
    """

    MONGODB_COLLECTION = MetadataKey("MongoOutlet.MONGODB_COLLECTION")
    """Metadata key: name of the collection to insert the record's documents into."""

    def __init__(self, database_name: str = "databay", collection: str = "default_collection",
                 host: Union[str, Sequence[str], None] = None, port: Optional[int] = None,
                 processors: Union[Callable, List[Callable], None] = None) -> None:
        try:
            import bson
            import pymongo
        except ImportError as error:
            raise ImportError('MongoOutlet needs PyMongo: pip install "databay[mongo]" (%s)'
                              % (error,)) from error
        self.database_name = check_database_name("database_name", database_name)
        self.collection = check_collection_name("collection", collection)
        if host is not None and not isinstance(host, str) and not (
                isinstance(host, (list, tuple)) and host and all(isinstance(h, str) for h in host)):
            raise TypeError("host=%r must be None, a host name or mongodb:// URI, or a list of them"
                            % (host,))
        if port is not None and (isinstance(port, bool) or not isinstance(port, int)
                                 or not 0 < port < 65536):
            raise ValueError("port=%r must be None or an int port number from 1 to 65535" % (port,))
        super().__init__(processors)
        self.host = host
        self.port = port
        self._pymongo = pymongo  # MongoClient is looked up at connect time (tests may replace it)
        self._bson = bson
        self._client: Any = None
        self._db: Any = None

    # -- connection -----------------------------------------------------------

    def connect(self, database_name: Optional[str] = None) -> bool:
        """Connect to ``database_name`` (default: the outlet's); True if already connected to it.

        Connecting to another database first disconnects from the current one.
        """
        name = self.database_name if database_name is None else \
            check_database_name("database_name", database_name)
        if self._db is not None:
            if self._db.name == name:
                return True
            self.disconnect()
        self._client = self._pymongo.MongoClient(host=self.host, port=self.port)
        self._db = self._client[name]
        return False

    def disconnect(self) -> None:
        """Close the client, if connected."""
        client, self._client, self._db = self._client, None, None
        if client is not None:
            client.close()

    def on_start(self) -> None:
        """Connect to MongoDB."""
        self.connect()

    def on_shutdown(self) -> None:
        """Disconnect from MongoDB."""
        self.disconnect()

    # -- pushing --------------------------------------------------------------

    def push(self, records: List[Record], update: Update) -> None:
        """Insert the records' documents, grouped by collection; see the class docstring."""
        groups = self._group_by_collection(records, update)
        if not groups:
            return
        database, client = self._db, None  # type: Any, Any
        if database is None:  # not started: a client for this push only
            client = self._pymongo.MongoClient(host=self.host, port=self.port)
            database = client[self.database_name]
        try:
            for name, documents in groups.items():
                database[name].insert_many(documents, ordered=True)
                _LOGGER.debug("%s inserted %d document(s) into %s.%s", update, len(documents),
                              database.name, name)
        finally:
            if client is not None:
                client.close()

    def _group_by_collection(self, records: List[Record], update: Update) -> Dict[str, List[dict]]:
        """Check every document and group copies of them: ``{collection: [document, ...]}``."""
        groups: Dict[str, List[dict]] = {}
        for index, record in enumerate(records):
            name = record.metadata.get(self.MONGODB_COLLECTION, self.collection)
            if name is not self.collection:
                check_collection_name(self.MONGODB_COLLECTION, name)
            payload = record.payload
            documents = payload if isinstance(payload, list) else [payload]
            checked = [self._document(index, update, document) for document in documents]
            if checked:
                groups.setdefault(name, []).extend(checked)
        return groups

    def _document(self, index: int, update: Update, document: Any) -> dict:
        """A shallow copy of ``document`` (PyMongo adds ``_id`` to it), checked for BSON."""
        if not isinstance(document, Mapping):
            raise TypeError("MongoOutlet inserts mappings (e.g. dicts) as documents; record %d of "
                            "update %s has %s" % (index, update, short_repr(document)))
        copy = dict(document)
        for key in copy:
            if not isinstance(key, str):
                raise TypeError("MongoOutlet: record %d of update %s has a document key %s; "
                                "BSON document keys must be str" % (index, update, short_repr(key)))
        path = _int_out_of_range(copy)
        if path is not None:
            where, value = path
            raise ValueError("MongoOutlet: record %d of update %s holds %s = %d at %s, outside the "
                             "integers BSON can store (%d to %d); store it as a str or a float"
                             % (index, update, type(value).__name__, value, where, BSON_INT_MIN,
                                BSON_INT_MAX))
        try:
            self._bson.encode(copy)
        except Exception as error:  # bson.errors.InvalidDocument and friends
            raise TypeError("MongoOutlet: record %d of update %s cannot be stored as a BSON "
                            "document: %s: %s" % (index, update, type(error).__name__, error)) from error
        return copy

    def __repr__(self) -> str:
        return "MongoOutlet(database_name=%r, collection=%r, host=%r, port=%r)" % (
            self.database_name, self.collection, _without_password(self.host), self.port)


def _int_out_of_range(value: Any, where: str = "") -> Optional[tuple]:
    """``(path, value)`` of the first int BSON cannot hold inside ``value``, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return None if BSON_INT_MIN <= value <= BSON_INT_MAX else (where or "the top level", value)
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, (list, tuple)):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _int_out_of_range(item, "%s[%r]" % (where, key))
        if found is not None:
            return found
    return None


def check_database_name(name: str, value: Any) -> str:
    """Return ``value`` if MongoDB accepts it as a database name."""
    if not isinstance(value, str) or not value:
        raise TypeError("%s=%r must be a non-empty str naming a MongoDB database" % (name, value))
    bad = sorted(set(value) & set('/\\. "$\0'))
    if bad:
        raise ValueError("%s=%r: a MongoDB database name cannot contain %s"
                         % (name, value, " ".join(repr(char) for char in bad)))
    return value


def check_collection_name(name: str, value: Any) -> str:
    """Return ``value`` if MongoDB accepts it as a collection name."""
    if not isinstance(value, str) or not value:
        raise TypeError("%s=%r must be a non-empty str naming a MongoDB collection" % (name, value))
    if "$" in value or "\0" in value or value.startswith("system.") \
            or value.startswith(".") or value.endswith("."):
        raise ValueError("%s=%r is not a MongoDB collection name: no '$', no NUL, not starting "
                         "with 'system.', not starting or ending with '.'" % (name, value))
    return value


def _without_password(host: Any) -> Any:
    """``host`` with the password of any ``mongodb://user:password@...`` URI replaced by ``***``."""
    if isinstance(host, (list, tuple)):
        return [_without_password(item) for item in host]
    if isinstance(host, str) and "://" in host and "@" in host:
        scheme, _, rest = host.partition("://")
        credentials, _, location = rest.rpartition("@")
        user = credentials.partition(":")[0]
        return "%s://%s:***@%s" % (scheme, user, location)
    return host
