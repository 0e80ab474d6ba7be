"""The exception tree rooted at DatabayError."""

import pytest

from databay import errors


@pytest.mark.parametrize("name, builtin", [
    ("InvalidNodeError", RuntimeError),
    ("MissingLinkError", RuntimeError),
    ("ImplementationError", RuntimeError),
    ("PlannerStateError", RuntimeError),
    ("ScheduleIntervalError", ValueError),
])
def test_each_error_is_a_databay_error_and_its_030_builtin(name, builtin):
    """Every databay exception derives from DatabayError and from its 0.3.0 builtin."""
    cls = getattr(errors, name)
    assert issubclass(cls, errors.DatabayError)
    assert issubclass(cls, builtin)
    with pytest.raises(builtin):
        raise cls("x")


def test_databay_error_is_an_exception():
    """DatabayError is an Exception (so except Exception catches it)."""
    assert issubclass(errors.DatabayError, Exception)


def test_errors_reexported_from_package():
    """The package exposes the same exception classes as databay.errors."""
    import databay

    for name in ("DatabayError", "InvalidNodeError", "MissingLinkError", "ImplementationError"):
        assert getattr(databay, name) is getattr(errors, name)
