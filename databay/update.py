"""Update: which link transfer a pull or push belongs to."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List


class Update:
    """Identifies one transfer of a link: its ``tags`` and ``transfer_number``.

    ``str(update)`` is ``"tag1.tag2.N"``, or ``"N"`` when the link has no tags.
    A link's first transfer is number 0.
    """

    __slots__ = ("tags", "transfer_number")

    def __init__(self, tags: List[str], transfer_number: int) -> None:
        self.tags = tags
        self.transfer_number = transfer_number

    def __repr__(self) -> str:
        if self.tags:
            return "%s.%s" % (".".join(self.tags), self.transfer_number)
        return str(self.transfer_number)

    __str__ = __repr__
