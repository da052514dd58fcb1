"""isosr: reproducible MRI super-resolution benchmark with implicit neural representations."""

import os
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("isosr")
except PackageNotFoundError:  # a source tree on PYTHONPATH, not installed
    __version__ = "unknown"

# ITK (inside antspyx) is repeatable only single-threaded, and reads this variable when it
# first starts, so it must be set before any antspyx call. Snakemake parallelises across jobs
# anyway; export another value to trade repeatability for speed.
os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", "1")
