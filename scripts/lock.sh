#!/usr/bin/env bash
# Regenerate requirements.lock: the exact versions of every package `.[all,dev]` resolves to today.
#
#   make lock            (or: bash scripts/lock.sh)
#
# A fresh virtual environment installs the project with every extra and the dev tools, unconstrained (so within
# the bounds of pyproject.toml), and `pip freeze` records what pip chose. `make install` (CI) and the Dockerfile
# install with `-c requirements.lock`, so they get exactly these versions. Run it with the Python CI and the image
# use (3.11): a few pins depend on the Python version. Commit the result after `make lint test` pass with it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
python="${PYTHON:-python3}"
env_dir="$(mktemp -d)"
trap 'rm -rf "$env_dir"' EXIT

"$python" -m venv "$env_dir"
"$env_dir/bin/pip" install -q --upgrade pip
"$env_dir/bin/pip" install -q '.[all,dev]'
{
    echo "# Exact versions of lgsp-bus[all,dev]'s dependencies, resolved by scripts/lock.sh (make lock) with"
    echo "# $("$env_dir/bin/python" --version) on $(uname -sm). Used as a constraints file (pip install -c) by"
    echo "# make install and the Dockerfile; regenerate it with make lock, never by hand."
    "$env_dir/bin/pip" freeze --exclude-editable | grep -v '^lgsp-bus @' | LC_ALL=C sort -f
} > requirements.lock.new
mv requirements.lock.new requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) packages"
