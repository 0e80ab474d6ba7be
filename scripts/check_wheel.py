"""Check that a built wheel ships both packages, their py.typed markers, and no tests.

Usage: python scripts/check_wheel.py DIST_DIR
"""

import sys
import zipfile
from pathlib import Path


def main(dist: str) -> int:
    wheels = sorted(Path(dist).glob("databay-*.whl"))
    if not wheels:
        print("no databay wheel in %s" % dist)
        return 1
    names = set(zipfile.ZipFile(wheels[-1]).namelist())
    required = {"databay/__init__.py", "databay/py.typed", "databay/planners/schedule_planner.py",
                "databay/inlets/http_inlet.py", "databay/outlets/sqlite_outlet.py",
                "databay/support/buffers.py", "databay/misc/inlet_tester.py",
                "databay_testing/__init__.py", "databay_testing/py.typed",
                "databay_testing/strategies.py"}
    missing = sorted(required - names)
    stray = sorted(name for name in names if name.startswith(("tests/", "benchmarks/")))
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    requires = [line for line in zipfile.ZipFile(wheels[-1]).read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line]
    for problem, items in (("missing", missing), ("should not ship", stray),
                           ("unconditional dependencies", requires)):
        if items:
            print("%s: %s" % (problem, ", ".join(items)))
    return 1 if missing or stray or requires else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
