"""``python -m databay``: see :mod:`databay.cli` (``run MODULE:ATTR`` and ``demo``)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
