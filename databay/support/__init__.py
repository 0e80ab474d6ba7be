"""Support for links: :class:`~databay.support.buffers.Buffer`."""

from .buffers import Buffer

__all__ = ["Buffer"]
