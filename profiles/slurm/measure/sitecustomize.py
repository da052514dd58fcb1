"""Records the wall time, CPU time and peak memory of every Snakemake script job (measure.py).

Python imports this module at start-up when its folder is on PYTHONPATH (measure.py puts it
there, for the Snakemake run it starts only). At exit, a process whose ``__main__`` holds
Snakemake's ``snakemake`` object (a rule's ``script:``) appends one JSON line to
$ISOSR_MEASURE_FILE: rule, wildcards, threads, wall seconds since interpreter start (imports
included), CPU seconds, and the kernel's peak resident set size (``ru_maxrss``) of the job's
process and of its waited-for children. Every other process writes nothing.
"""

import atexit
import json
import os
import resource
import sys
import time

_START = time.perf_counter()


def _record() -> None:
    job = getattr(sys.modules.get("__main__"), "snakemake", None)
    target = os.environ.get("ISOSR_MEASURE_FILE")
    if job is None or not target:
        return
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = json.dumps({
        "rule": job.rule,
        "wildcards": dict(job.wildcards.items()),
        "threads": job.threads,
        "wall_seconds": time.perf_counter() - _START,
        "cpu_seconds": own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime,
        "peak_rss_mb": own.ru_maxrss / 1024,  # Linux: KiB
        "peak_child_rss_mb": children.ru_maxrss / 1024,
    })
    with open(target, "a") as out:  # one short write per job: lines never interleave
        out.write(line + "\n")


if os.environ.get("ISOSR_MEASURE_FILE"):
    atexit.register(_record)
