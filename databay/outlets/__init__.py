"""Built-in outlets: on the standard library, except PostgresOutlet (psycopg 3) and
MongoOutlet (PyMongo), each imported only when one is constructed."""

from .csv_outlet import CsvOutlet
from .file_outlet import FileOutlet
from .mongo_outlet import MongoOutlet
from .null_outlet import NullOutlet
from .postgres_outlet import PostgresOutlet
from .print_outlet import PrintOutlet
from .sqlite_outlet import SqliteOutlet

__all__ = ["CsvOutlet", "FileOutlet", "MongoOutlet", "NullOutlet", "PostgresOutlet", "PrintOutlet",
           "SqliteOutlet"]
