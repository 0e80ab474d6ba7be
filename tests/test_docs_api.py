"""docs/api.md documents every public name, parameter and method; help(databay) shows only the public API.

The public API is found by introspection, so a name added anywhere in databay
makes this test fail until docs/api.md documents it:

* every module of the ``databay`` package whose dotted path has no part
  starting with ``_``: the names in its ``__all__``, or, without ``__all__``,
  the classes and functions it defines whose name does not start with ``_``;
* for each such class: every parameter of its constructor, and every public
  attribute (method, property, constant, enum member) it defines or inherits
  from a private base class, with the parameters of each method;
* for each such function: its parameters.

A name is documented by a ``### `Name` `` heading in docs/api.md; its
parameters and members by appearing inside backticks in that section (a
signature line such as ```Link(inlets, outlets, ...)``` counts).
"""

import enum
import importlib
import inspect
import pkgutil
import pydoc
import re
from pathlib import Path

import databay

API_MD = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _public_modules():
    yield databay
    for info in pkgutil.walk_packages(databay.__path__, "databay."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        yield importlib.import_module(info.name)


def public_api():
    """{object id: (dotted name, object)} for every public class and function of databay."""
    found = {}
    for module in _public_modules():
        names = getattr(module, "__all__", None)
        if names is None:
            names = [name for name, value in vars(module).items()
                     if not name.startswith("_") and (inspect.isclass(value) or inspect.isfunction(value))
                     and getattr(value, "__module__", None) == module.__name__]
        for name in names:
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isroutine(value):
                found.setdefault(id(value), ("%s.%s" % (module.__name__, name), value))
    return found


def _parameters(function):
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # builtins without a signature
        return []
    return [name for name, parameter in signature.parameters.items()
            if name not in ("self", "cls")
            and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)]


def _is_databay(cls):
    return getattr(cls, "__module__", "").partition(".")[0] == "databay"


def _members(cls, public_classes):
    """Public attributes of ``cls`` and of its private databay base classes (documented base: stop)."""
    members = {}
    for klass in cls.__mro__:
        if klass is not cls and (klass in public_classes or not _is_databay(klass)):
            break
        for name, value in vars(klass).items():
            if not name.startswith("_"):
                members.setdefault(name, value)
    return members


def _own_constructor(cls):
    """The databay-defined ``__init__`` (or ``__new__``) of ``cls``, if any."""
    for klass in cls.__mro__:
        if not _is_databay(klass):
            return None
        for name in ("__init__", "__new__"):
            if name in vars(klass):
                return getattr(cls, name)
    return None


def _sections(text):
    """{name: section text} for each ``### `Name` `` heading (up to the next ## or ### heading)."""
    sections = {}
    parts = re.split(r"^(#{2,3} .*)$", text, flags=re.M)
    for heading, body in zip(parts[1::2], parts[2::2]):
        match = re.match(r"### `([\w.]+?)(?:\(.*)?`", heading)
        if match:
            sections[match.group(1).rpartition(".")[2]] = heading + body
    return sections


def _words_in_backticks(section):
    """Identifiers inside fenced code blocks and inline code spans of ``section``."""
    fences = re.findall(r"^```.*?^```", section, flags=re.S | re.M)
    prose = re.sub(r"^```.*?^```", "", section, flags=re.S | re.M)
    spans = fences + re.findall(r"`([^`]+)`", prose)
    return {word for span in spans for word in re.findall(r"\w+", span)}


def undocumented(text):
    """What ``text`` (the content of docs/api.md) fails to document, one line per gap."""
    api = public_api()
    public_classes = {value for _, value in api.values() if inspect.isclass(value)}
    sections = _sections(text)
    gaps = []
    for dotted, value in sorted(api.values(), key=lambda item: item[0]):
        name = dotted.rpartition(".")[2]
        section = sections.get(name) or sections.get(value.__name__)
        if section is None:
            gaps.append("%s: no '### `%s`' heading" % (dotted, name))
            continue
        if not _is_databay(value):  # re-exported from databay_testing: documented in testing.md
            continue
        words = _words_in_backticks(section)
        wanted = []
        if inspect.isclass(value):
            constructor = _own_constructor(value)
            if constructor is not None and not issubclass(value, enum.Enum):
                wanted += [("parameter", parameter) for parameter in _parameters(constructor)]
            for member, attribute in sorted(_members(value, public_classes).items()):
                wanted.append(("member", member))
                function = attribute.fget if isinstance(attribute, property) else attribute
                if isinstance(function, (staticmethod, classmethod)):
                    function = function.__func__
                if inspect.isfunction(function) and not isinstance(attribute, property):
                    wanted += [("parameter of %s()" % member, parameter)
                               for parameter in _parameters(function)]
        else:
            wanted += [("parameter", parameter) for parameter in _parameters(value)]
        for kind, word in wanted:
            if word not in words:
                gaps.append("%s: %s `%s` is not mentioned (in backticks) in its section"
                            % (dotted, kind, word))
    return gaps


def test_every_public_name_parameter_and_method_is_documented():
    """docs/api.md covers the whole public API; the failure lists exactly what is missing."""
    gaps = undocumented(API_MD.read_text(encoding="utf-8"))
    assert not gaps, "docs/api.md does not document %d item(s) of the public API:\n  %s" % (
        len(gaps), "\n  ".join(gaps))


def test_the_check_notices_a_missing_name_parameter_and_method():
    """The checker itself: removing a section, a parameter or a method from the page is reported."""
    text = API_MD.read_text(encoding="utf-8")
    without_section = re.sub(r"### `NullOutlet`.*?(?=^### )", "", text, flags=re.S | re.M)
    assert "databay.outlets.NullOutlet: no '### `NullOutlet`' heading" in undocumented(without_section)
    without_parameter = text.replace("inlet_concurrency", "inlet_parallelism")
    gaps = undocumented(without_parameter)
    assert any("databay.Link: parameter `inlet_concurrency`" in gap for gap in gaps)
    without_method = text.replace("`purge()`", "purge")
    assert any("BasePlanner: member `purge`" in gap for gap in undocumented(without_method))


def test_public_api_is_found_by_introspection():
    """The walk finds names from __all__, from modules without __all__, and from subpackages."""
    names = {dotted for dotted, _ in public_api().values()}
    for expected in ("databay.Link", "databay.BasePlanner", "databay.record.copy_records",
                     "databay.inlets.HttpInlet", "databay.outlets.SqliteOutlet", "databay.cli.main",
                     "databay.support.Buffer", "databay.misc.logs.enable_console_logging"):
        assert expected in names
    assert not any(part.startswith("_") for dotted in names for part in dotted.split("."))


def test_dir_and_help_show_only_the_public_api():
    """dir(databay) is __all__; help(databay) documents every name of __all__ and nothing private."""
    assert dir(databay) == sorted(databay.__all__)
    text = pydoc.render_doc(databay, renderer=pydoc.plaintext)
    classes = text[text.index("\nCLASSES\n"):]
    documented = set(re.findall(r"^    class (\w+)", classes, re.M))
    assert documented == {name for name in databay.__all__ if inspect.isclass(getattr(databay, name))}
    assert "\nFUNCTIONS\n" not in text  # no __getattr__ / __dir__ plumbing
    assert "BasePlanner" in documented  # loaded lazily, listed all the same
