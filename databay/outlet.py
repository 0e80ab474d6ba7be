"""Outlet: the consuming end of a link, and MetadataKey."""

from __future__ import annotations

from abc import ABC, abstractmethod

from ._coroutines import is_coroutine_callable
from ._lifecycle import Lifecycle
from ._validation import check_processor_result, to_callables
from .record import Record
from .update import Update

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, List, Union


class MetadataKey(str):
    """Marks a class attribute holding a metadata key, e.g. ``CsvOutlet.CSV_FILE``."""


class Outlet(Lifecycle, ABC):
    """Consumes records in :meth:`push`; subclass it and implement ``push``.

    ``push`` may be ``def`` or ``async def``. Before ``push``, the outlet's own
    ``processors`` run in order, each taking and returning a list of records.

    Args:
        processors: a callable or a list of callables, or None.

    Raises:
        TypeError: a processor is not callable.
    """

    def __init__(self, processors: Union[Callable, List[Callable], None] = None) -> None:
        self.processors: List[Callable] = to_callables("processors", processors)
        self._init_lifecycle()
        self._uses_coroutine = is_coroutine_callable(self.push)

    @abstractmethod
    def push(self, records: List[Record], update: Update) -> Any:
        """Consume ``records`` produced by the transfer ``update``."""
        raise NotImplementedError()

    def _process_and_push(self, records: List[Record], update: Update) -> Any:
        """Run the outlet processors, then ``push``; returns what ``push`` returns."""
        for processor in self.processors:
            records = processor(records)
            check_processor_result(processor, records, owner=self)
        return self.push(records, update)

    def __repr__(self) -> str:
        return "%s()" % type(self).__name__
