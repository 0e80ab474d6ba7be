"""CsvOutlet and FileOutlet exactly as databay 0.4.0 shipped them, defects included.

A fixture for the kit's adversarial outlet tests: pointed at these copies they
must find the partial-write and field-limit defects that the current outlets
fixed. Only the imports were changed (absolute ``databay`` imports, and the two
argument checks copied into ``_validation``). Never use these outlets for data.
"""

from .csv_outlet import CsvOutlet
from .file_outlet import FileOutlet

__all__ = ["CsvOutlet", "FileOutlet"]
