#!/usr/bin/env bash
# The suite on SQLite under Django 6.0 (needs Python 3.12+), so that nothing private to Django 5.2
# creeps back in. The project itself targets Django 5.2 LTS; this leg installs 6.0 over it.
set -euo pipefail
cd "$(dirname "$0")/.."

# The first interpreter that runs and is 3.12+ (a pyenv shim may exist without its version active).
py=""
for candidate in python3.12 python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[23]*/bin/python; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
        py=$candidate
        break
    fi
done
if [ -z "$py" ]; then
    echo "SKIPPED: the Django 6.0 leg needs Python 3.12 or newer, and none was found"
    exit 0
fi

venv=.venv-django6
stamp=$venv/.installed-stamp
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    test -x "$venv/bin/pip" || "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e ".[dev]"
    # Over the project's 5.2 pin: pip reports the conflict and installs it.
    "$venv/bin/python" -m pip install --quiet "Django>=6.0,<6.1" 2>&1 | grep -v "requires Django<5.3" || true
    touch "$stamp"
fi
"$venv/bin/python" -c 'import django, sys; print(f"Django {django.get_version()} on Python {sys.version.split()[0]}")'
"$venv/bin/python" -m pytest -m "not e2e" -p no:cacheprovider -q ${PYTEST_ARGS:-}
