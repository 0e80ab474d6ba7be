"""Built-in outlets, all on the standard library."""

from .csv_outlet import CsvOutlet
from .file_outlet import FileOutlet
from .null_outlet import NullOutlet
from .print_outlet import PrintOutlet
from .sqlite_outlet import SqliteOutlet

__all__ = ["CsvOutlet", "FileOutlet", "NullOutlet", "PrintOutlet", "SqliteOutlet"]
