#!/usr/bin/env bash
# Create ECLARE's own environment at PREFIX (default resources/tools/eclare), so that
# PREFIX/bin/run-eclare exists: a virtual environment from the pinned envs/eclare.requirements.txt,
# or, inside the conda env envs/eclare.yaml (snakemake --use-conda), a link to its run-eclare.
# Needs python3 with venv and a reachable package index. Idempotent; an interrupted install is
# removed and redone on the next call.
set -euo pipefail
prefix="${1:-resources/tools/eclare}"
requirements="$(cd "$(dirname "$0")" && pwd)/eclare.requirements.txt"
if [ -f "$prefix/.complete" ] && [ -x "$prefix/bin/run-eclare" ]; then
  echo "ECLARE already installed: $prefix/bin/run-eclare"
  exit 0
fi
rm -rf "$prefix"
if [ -n "${CONDA_PREFIX:-}" ] && [ -x "$CONDA_PREFIX/bin/run-eclare" ]; then
  mkdir -p "$prefix/bin"
  ln -s "$CONDA_PREFIX/bin/run-eclare" "$prefix/bin/run-eclare"
else
  python3 -m venv "$prefix"
  # the requirements double as constraints, so nothing pip resolves can move off the pins
  "$prefix/bin/python" -m pip install --quiet --requirement "$requirements" \
    --constraint "$requirements"
fi
"$prefix/bin/run-eclare" --help >/dev/null
touch "$prefix/.complete"
echo "ECLARE installed: $prefix/bin/run-eclare"
