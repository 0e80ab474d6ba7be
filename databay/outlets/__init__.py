"""Built-in outlets: on the standard library, except PostgresOutlet (psycopg 3, imported
only when one is constructed)."""

from .csv_outlet import CsvOutlet
from .file_outlet import FileOutlet
from .null_outlet import NullOutlet
from .postgres_outlet import PostgresOutlet
from .print_outlet import PrintOutlet
from .sqlite_outlet import SqliteOutlet

__all__ = ["CsvOutlet", "FileOutlet", "NullOutlet", "PostgresOutlet", "PrintOutlet", "SqliteOutlet"]
