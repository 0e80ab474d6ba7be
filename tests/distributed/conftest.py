"""The distributed tests import their link factories by name, as shard processes do."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # so "shard_factories:..." imports in this process too
