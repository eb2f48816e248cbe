#!/usr/bin/env bash
# Run the whole test suite (as root): unit tests, runtime tests against runc,
# and the compat tests, which start their own daemon beside any other.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${DOCKERD_PY_VENV:-$(pwd)/.venv}
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@" tests
