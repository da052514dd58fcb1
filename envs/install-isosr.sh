#!/usr/bin/env bash
# Snakemake post-deploy script of every rule env (each envs/<env>.post-deploy.sh links here), run
# inside a newly created env: installs isosr from the workflow's source tree, editable (the env
# always runs the checked-out code), without dependencies (the env file pins them) and without
# build isolation (setuptools is in the env), so this step needs no network.
# ISOSR_SOURCE_DIR is exported by workflow/rules/common.smk.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation --editable \
  "${ISOSR_SOURCE_DIR:?must name the isosr source tree (workflow/rules/common.smk sets it)}"
