"""ECLARE's (SMORE's) quality against its training budget on one 2 mm embedded subject.

For each ``--n-patches`` budget (one-cycle schedule over ceil(n_patches / batch) steps, as
run-eclare does), super-resolves the subject's LR stacks with ECLARE and prints, per contrast,
PSNR and SSIM inside the brain beside cubic interpolation's, the last step's training loss and the
wall and CPU time; the smallest budget whose PSNR is within ``--plateau-db`` of the largest one's
is the plateau. Asserts nothing. Needs ECLARE's environment (``envs/install-eclare.sh``).

    python benchmarks/eclare_budget.py [--subject 01] [--n-patches 256 2048 8192 32768]
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch
from embedded_case import embedded_case

from isosr.methods import create_method
from isosr.metrics import psnr, ssim
from isosr.simulate import Acquisition


def child_cpu_seconds() -> float:
    """CPU seconds (user + system) of the finished child processes (ECLARE's runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", default="01")
    parser.add_argument("--thickness", type=float, default=4.0)
    parser.add_argument("--contrasts", nargs="+", default=["T1w:axial", "FLAIR:coronal"],
                        help="CONTRAST:VIEW stacks")
    parser.add_argument("--n-patches", type=int, nargs="+", default=[256, 2048, 8192, 32768])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--plateau-db", type=float, default=0.2)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    acquisitions = {c: Acquisition(v, args.thickness)
                    for c, v in (item.split(":") for item in args.contrasts)}
    hr, lr, grid = embedded_case(args.subject, acquisitions)
    cubic = create_method("cubic", None, seed=0).fit_predict(lr, grid).images
    print(f"subject {args.subject}, 2 mm grid {grid.shape}, {args.thickness:g} mm stacks, "
          f"{args.threads} thread(s), batch {args.batch_size}")
    for c in hr:
        print(f"  cubic {c}: PSNR {psnr(cubic[c], hr[c], grid.mask):.2f} dB SSIM "
              f"{ssim(cubic[c], hr[c], grid.mask):.4f}")
    rows = []
    for n_patches in args.n_patches:
        model = create_method("eclare", {"n_patches": n_patches, "batch_size": args.batch_size},
                              seed=0)
        start, cpu_start = time.perf_counter(), child_cpu_seconds()
        result = model.fit_predict(lr, grid)
        wall = time.perf_counter() - start
        children = child_cpu_seconds() - cpu_start
        for c in hr:
            row = {"n_patches": n_patches, "steps": -(-n_patches // args.batch_size),
                   "contrast": c, "psnr": psnr(result.images[c], hr[c], grid.mask),
                   "ssim": ssim(result.images[c], hr[c], grid.mask),
                   "final_loss": result.history["final_loss"][c],
                   "seconds": result.history["contrast_seconds"][c]}
            rows.append(row)
            print(f"  n_patches {n_patches:7d} ({row['steps']:5d} steps) {c:6s} PSNR "
                  f"{row['psnr']:6.2f} dB SSIM {row['ssim']:.4f} loss {row['final_loss']} "
                  f"{row['seconds']:6.1f} s", flush=True)
        print(f"    (wall {wall:.1f} s, ECLARE's CPU {children:.1f} s)", flush=True)
    for c in hr:
        curve = [r for r in rows if r["contrast"] == c]
        best = max(r["psnr"] for r in curve)
        plateau = next(r for r in curve if r["psnr"] >= best - args.plateau_db)
        print(f"plateau {c}: n_patches {plateau['n_patches']} (PSNR {plateau['psnr']:.2f} dB, "
              f"best {best:.2f} dB)")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1)


if __name__ == "__main__":
    main()
