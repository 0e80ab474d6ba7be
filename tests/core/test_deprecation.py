"""Deprecated 0.3.0 spellings still work and warn at the caller's line."""

import warnings

import pytest

from databay import Link


def _only_warning(caught):
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(deprecations) == 1, [str(w.message) for w in caught]
    return deprecations[0]


def test_link_name_argument_warns_and_sets_tags():
    """Link(name=...) warns DeprecationWarning at the caller and becomes the only tag."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        link = Link([], [], 1, name="legacy")
    warning = _only_warning(caught)
    assert warning.filename == __file__
    assert "name" in str(warning.message) and "tags" in str(warning.message)
    assert link.tags == ["legacy"]


def test_catch_exceptions_argument_warns_and_sets_ignore_exceptions():
    """Link(catch_exceptions=...) warns at the caller and maps to ignore_exceptions."""
    for value in (True, False):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            link = Link([], [], 1, catch_exceptions=value)
        warning = _only_warning(caught)
        assert warning.filename == __file__
        assert "catch_exceptions" in str(warning.message)
        assert "ignore_exceptions" in str(warning.message)
        assert link.ignore_exceptions is value


def test_link_name_property_warns_and_returns_first_tag():
    """Reading Link.name warns at the caller and returns the first tag, or ''."""
    tagged, untagged = Link([], [], 1, tags=["a", "b"]), Link([], [], 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tagged.name == "a"
    warning = _only_warning(caught)
    assert warning.filename == __file__
    with pytest.warns(DeprecationWarning, match="Link.name"):
        assert untagged.name == ""


def test_deprecation_message_names_replacement_and_removal():
    """The message says what replaces the old name and when it goes away."""
    with pytest.warns(DeprecationWarning) as record:
        Link([], [], 1, name="x")
    message = str(record[0].message)
    assert "deprecated" in message and "removed" in message and "Link(tags=" in message


def test_no_warning_for_current_arguments():
    """The current spellings (tags=, ignore_exceptions=, .tags) do not warn."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        link = Link([], [], 1, tags="x", ignore_exceptions=True)
        assert link.tags == ["x"] and link.ignore_exceptions is True
