"""PrintOutlet: print records to standard output."""

from __future__ import annotations

import sys

from ..outlet import Outlet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Union

    from ..record import Record
    from ..update import Update

__all__ = ["PrintOutlet"]


class PrintOutlet(Outlet):
    """Prints one line per record: ``"<update> <record>"``.

    The lines of one push are printed with a single write, so pushes running
    at the same time on different threads do not interleave their lines.

    Args:
        only_payload: print ``str(record.payload)`` instead of ``str(record)``.
        skip_update: leave out the ``"<update> "`` prefix.
        processors: outlet processors, as for every :class:`~databay.outlet.Outlet`.
    """

    def __init__(self, only_payload: bool = False, skip_update: bool = False,
                 processors: Union[Callable, List[Callable], None] = None) -> None:
        super().__init__(processors)
        self.only_payload = only_payload
        self.skip_update = skip_update

    def push(self, records: List[Record], update: Update) -> None:
        """Print the records to ``sys.stdout`` (looked up at each push)."""
        if not records:
            return
        prefix = "" if self.skip_update else "%s " % (update,)
        if self.only_payload:
            lines = [prefix + str(record.payload) for record in records]
        else:
            lines = [prefix + str(record) for record in records]
        sys.stdout.write("\n".join(lines) + "\n")

    def __repr__(self) -> str:
        return "PrintOutlet(only_payload=%r, skip_update=%r)" % (self.only_payload, self.skip_update)
