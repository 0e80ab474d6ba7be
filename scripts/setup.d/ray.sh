#!/usr/bin/env bash
# The distributed tests (tests/distributed) run on a local Ray cluster: install
# the ray extra into $VENV. Ray publishes wheels for a limited set of Pythons and
# platforms; where pip finds none, this step says so and those tests skip.
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${VENV:?run from scripts/test, which sets VENV}"
if "$VENV/bin/python" -c "import ray" >/dev/null 2>&1; then
    echo "ray: already installed"
    exit 0
fi
if ! "$VENV/bin/python" -m pip install --quiet --only-binary=ray -e ".[ray]"; then
    echo "ray: no wheel for $("$VENV/bin/python" -V 2>&1) on $(uname -m); tests/distributed will skip"
    exit 1
fi
echo "ray: installed $("$VENV/bin/python" -c 'import ray; print(ray.__version__)')"
