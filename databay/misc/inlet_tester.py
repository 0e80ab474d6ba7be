"""The databay 0.3.0 import path of the inlet test kit; it lives in ``databay_testing`` now.

``from databay.misc.inlet_tester import InletTester`` keeps working; new code
should use ``from databay_testing import InletTester``. Importing ``databay``
does not import this module (it needs the ``databay[testing]`` extra).
"""

try:
    from databay_testing import InletTester
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError("databay.misc.inlet_tester needs the testing extra: "
                      f"pip install 'databay[testing]' ({error})") from error

__all__ = ["InletTester"]
