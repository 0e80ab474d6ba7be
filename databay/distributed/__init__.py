"""databay.distributed: run one set of links as shards on a distributed engine.

Standard library only until a backend is used: ``backend="ray"`` imports Ray
(``pip install 'databay[ray]'``) when the run starts. See docs/distributed.md.
"""

from ..errors import LinkKeyError, ShardError
from ._backend import Backend, ShardGroup
from ._keys import shard_of
from ._ray import RayBackend
from ._run import ShardedRun
from ._shard import Shard

__all__ = ["Backend", "LinkKeyError", "RayBackend", "Shard", "ShardError", "ShardGroup",
           "ShardedRun", "shard_of"]
