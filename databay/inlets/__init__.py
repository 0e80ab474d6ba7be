"""Built-in inlets, all on the standard library."""

from .file_inlet import FileInlet, FileInletMode
from .http_inlet import HttpInlet
from .null_inlet import NullInlet
from .random_int_inlet import RandomIntInlet

__all__ = ["FileInlet", "FileInletMode", "HttpInlet", "NullInlet", "RandomIntInlet"]
