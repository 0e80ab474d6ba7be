"""A stand-in for databay 0.3.0's MongoOutlet, reduced to what the tests need: it inserts the
records' payloads themselves, so the driver adds ``_id`` to the caller's dicts (0.3.0's defect),
and it skips every push made while it is not started (0.3.0's other defect)."""

from __future__ import annotations

from databay import Outlet


class MongoOutlet030(Outlet):
    """Groups payloads by collection and passes the very same dicts to insert_many."""

    MONGODB_COLLECTION = "MongoOutlet.MONGODB_COLLECTION"

    def __init__(self, database_name="databay", collection="default_collection", host=None, port=None):
        super().__init__()
        self.database_name, self.collection, self.host, self.port = database_name, collection, host, port
        self._client = None

    def on_start(self):
        import pymongo

        self._client = pymongo.MongoClient(host=self.host, port=self.port)

    def on_shutdown(self):
        self._client.close()
        self._client = None

    def push(self, records, update):
        if not self.active:
            return False  # 0.3.0: silently nothing
        groups = {}
        for record in records:
            name = record.metadata.get(self.MONGODB_COLLECTION, self.collection)
            documents = record.payload if isinstance(record.payload, list) else [record.payload]
            groups.setdefault(name, []).extend(documents)
        for name, documents in groups.items():
            if documents:
                self._client[self.database_name][name].insert_many(documents)
        return True
