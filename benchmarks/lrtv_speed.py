"""Seconds per 2 mm volume of LRTV (paper defaults) on one CPU core; goal <= 60 s.

Super-resolves a piecewise-constant head-sized phantom on the 2 mm demo grid (79x97x81) from a
4 mm coronal stack with a Gaussian slice profile (the demo scenarios' acquisition), with the
paper's defaults (20 ADMM iterations x 200 gradient steps unless the stopping rule ends it
sooner), and prints the CPU time of this process per volume (what one core spends, also on a shared
machine) and the wall time, the ratio to the goal, the time per gradient step, and the PSNR of
LRTV and cubic interpolation against the phantom. Asserts nothing.
``python benchmarks/lrtv_speed.py [--threads 1] [--iterations N]``.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch

from isosr.io import Grid, LRImage, resample_to_grid
from isosr.methods.lrtv.method import lrtv
from isosr.methods.lrtv.params import LRTVParams
from isosr.simulate import Acquisition, simulate_lr

SHAPE = (79, 97, 81)
GOAL_SECONDS = 60.0


def head_phantom(shape: tuple[int, int, int]) -> np.ndarray:
    """Nested ellipsoids (scalp, brain, a ventricle-like core) and stripes: piecewise constant."""
    index = np.indices(shape).astype(np.float64)
    centre = (np.array(shape)[:, None, None, None] - 1) / 2
    radius = np.sqrt((((index - centre) / (centre + 0.5)) ** 2).sum(axis=0))
    image = 0.3 * (radius < 0.92) + 0.4 * (radius < 0.8) + 0.2 * (radius < 0.3)
    image -= 0.25 * ((index[0] // 5) % 2 == 0) * (radius < 0.6) * (radius > 0.4)
    return image.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=LRTVParams().iterations)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    grid = Grid(SHAPE, affine)
    hr = head_phantom(SHAPE)
    acquisition = Acquisition("coronal", 4.0, "slice-profile")
    data, lr_affine = simulate_lr(hr, affine, acquisition)
    image = LRImage(data, lr_affine, "coronal", 4.0, "slice-profile")
    params = replace(LRTVParams(), iterations=args.iterations)
    start = time.perf_counter()
    cubic = resample_to_grid(data, lr_affine, grid, order=3)
    cubic_seconds = time.perf_counter() - start
    start, start_cpu = time.perf_counter(), time.process_time()
    prediction, history = lrtv(image, grid, params)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    steps = len(history["change"]) * params.gradient_steps
    psnr = {name: 10 * np.log10(1.0 / np.mean((volume - hr) ** 2))
            for name, volume in (("LRTV", prediction), ("cubic", cubic))}
    print(f"grid {'x'.join(map(str, SHAPE))} at 2 mm, LR 4 mm coronal, {args.threads} thread(s)")
    print(f"LRTV: {cpu_seconds:.1f} CPU s per volume ({len(history['change'])} iterations, "
          f"{steps} gradient steps, {1000 * cpu_seconds / steps:.1f} ms per step; wall "
          f"{seconds:.1f} s); goal {GOAL_SECONDS:.0f} s: "
          f"{cpu_seconds / GOAL_SECONDS:.2f} x the goal")
    print(f"cubic: {cubic_seconds:.2f} s per volume; LRTV / cubic time: "
          f"{seconds / cubic_seconds:.0f} x")
    print(f"PSNR LRTV {psnr['LRTV']:.2f} dB, cubic {psnr['cubic']:.2f} dB")


if __name__ == "__main__":
    main()
