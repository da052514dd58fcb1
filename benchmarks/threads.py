"""Two training-heavy jobs side by side: each capped at 1 thread (isosr.threads) vs uncapped.

Each job is a process fitting the ``fast`` split-head INR (``--epochs`` epochs, then the HR
prediction) on one embedded subject (T1w axial + T2w coronal, 4 mm slices, ``--resolution`` mm
grid). Two such jobs start together, as Snakemake runs two 1-thread fits on 2 cores: once with
every pool capped at 1 thread (what a workflow job gets from its ``threads: 1``), once with the
libraries' defaults (each job takes every core: PyTorch, OpenMP, OpenBLAS). A job loads its data
first and starts timing when both are ready. Prints each job's wall seconds, the mean, and the
ratio uncapped / capped; asserts nothing. Figures depend on other load on the machine.

    python benchmarks/threads.py [--epochs N] [--resolution MM]

About 2 minutes on 2 CPU cores with the defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from statistics import mean

from isosr.threads import limit_threads

JOBS = 2


def worker(threads: int, epochs: int, resolution_mm: float) -> None:
    """One job: cap the pools (``threads`` > 0) before NumPy and PyTorch are imported, load the
    case, say ``ready``, wait for ``go`` on stdin, then time the fit and print it as JSON."""
    if threads:
        limit_threads(threads)
    import torch  # after the cap
    from embedded_case import embedded_case

    from isosr.methods import create_method
    from isosr.simulate import Acquisition

    _, lr, grid = embedded_case("01", {"T1w": Acquisition("axial", 4.0),
                                       "T2w": Acquisition("coronal", 4.0)}, resolution_mm)
    method = create_method("inr-splithead", {"profile": "fast", "epochs": epochs}, seed=0)
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter()
    method.fit_predict(lr, grid)
    print(json.dumps({"seconds": time.perf_counter() - start,
                      "intra_op": torch.get_num_threads(),
                      "inter_op": torch.get_num_interop_threads(),
                      "threads_of_process": len(os.listdir("/proc/self/task"))}), flush=True)


def side_by_side(threads: int, epochs: int, resolution_mm: float) -> list[dict]:
    """Start ``JOBS`` workers, release them together once all are ready; their reports."""
    command = [sys.executable, __file__, "--worker", str(threads), "--epochs", str(epochs),
               "--resolution", str(resolution_mm)]
    environment = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    jobs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             env=environment) for _ in range(JOBS)]
    for job in jobs:
        while job.stdout.readline() not in ("ready\n", ""):
            pass
    for job in jobs:
        job.stdin.write("go\n")
        job.stdin.flush()
    outputs = [job.communicate()[0] for job in jobs]
    if any(job.returncode for job in jobs):
        raise SystemExit(f"a job failed: {command}")
    return [json.loads(output.splitlines()[-1]) for output in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--resolution", type=float, default=3.0, help="HR grid, mm")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.worker is not None:
        worker(arguments.worker, arguments.epochs, arguments.resolution)
        return
    print(f"{JOBS} jobs side by side on {os.cpu_count()} CPU cores: inr-splithead fast, "
          f"{arguments.epochs} epoch(s), {arguments.resolution} mm grid")
    seconds = {}
    for label, threads in (("capped at 1 thread", 1), ("uncapped (library defaults)", 0)):
        reports = side_by_side(threads, arguments.epochs, arguments.resolution)
        seconds[threads] = mean(r["seconds"] for r in reports)
        print(f"  {label}: " + ", ".join(
            f"{r['seconds']:.1f} s ({r['intra_op']} intra-op / {r['inter_op']} inter-op torch "
            f"threads, {r['threads_of_process']} threads in the process)" for r in reports)
            + f"; mean {seconds[threads]:.1f} s")
    print(f"  uncapped / capped: {seconds[0] / seconds[1]:.2f}x")


if __name__ == "__main__":
    main()
