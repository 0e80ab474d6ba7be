"""What InletTester and OutletTester share: collection rules, per-node subtests, helpers."""

from __future__ import annotations

import unittest

from hypothesis import HealthCheck, Phase, given, settings

from databay import ImplementationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, ClassVar, List


class NodeTester(unittest.TestCase):
    """Base of the kit's TestCases; never collected or run by itself.

    ``__test__ = False`` keeps pytest from collecting the kit's bases and
    ``__init_subclass__`` sets ``__test__ = True`` on every subclass that does
    not set it itself. ``setUpClass`` skips (``unittest.SkipTest``) a kit base
    and a subclass that does not implement the factory method, so unittest
    discovery, which ignores ``__test__``, reports a skip, never a pass.
    """

    __test__ = False
    _kit_base: ClassVar[bool] = True
    _factory: ClassVar[str] = ""
    _kind: ClassVar[str] = ""

    #: Settings for the Hypothesis property tests; override to change them.
    #: (No "explain" phase: it can add many seconds to each failing property. No deadline
    #: and no "too slow" health check: both measure wall time, which a busy CI machine
    #: stretches, and would fail a correct node.)
    hypothesis_settings: ClassVar[settings] = settings(
        max_examples=50, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow])

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = True

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if cls.__dict__.get("_kit_base", False):
            raise unittest.SkipTest(f"{cls.__name__} is a base class: subclass it and "
                                    f"implement {cls._factory}()")
        if not any(cls._factory in klass.__dict__ for klass in cls.__mro__
                   if not klass.__dict__.get("_kit_base", False)):
            raise unittest.SkipTest(f"{cls.__name__} does not implement {cls._factory}(): "
                                    f"return the {cls._kind}(s) to test from it")

    def _nodes(self, value: Any, kind: type) -> List[Any]:
        """Check what the factory returned and make it a list."""
        nodes = value if isinstance(value, list) else [value]
        if not nodes:
            self.fail(f"{self._factory}() returned an empty list; "
                      f"return one {kind.__name__} or a list of them")
        for node in nodes:
            if not isinstance(node, kind):
                self.fail(f"{self._factory}() must return one {kind.__name__} or a list of them, "
                          f"got {node!r}")
        return nodes

    def _for_each(self, nodes: List[Any], check: Callable[[Any], None]) -> None:
        """Run ``check(node)`` for every node as its own subTest, after the init check."""
        for index, node in enumerate(nodes):
            with self.subTest(**{self._kind: f"{index}: {type(node).__qualname__}"}):
                try:
                    node.active  # noqa: B018 - raises if __init__ skipped super().__init__()
                except ImplementationError as error:
                    raise self.failureException(str(error)) from None
                check(node)

    def _property(self, test: Callable[..., None], **strategies: Any) -> None:
        """Run ``test`` as a Hypothesis property with :attr:`hypothesis_settings`."""
        settings(self.hypothesis_settings)(given(**strategies)(test))()
