"""Quality and wall time of the INRs versus cubic interpolation on one embedded subject.

For each scenario (T1w axial + T2w or FLAIR coronal, Gaussian slice profile, slice thickness
``--thickness``), fits cubic and each INR method with ``--profile`` on the same LR images and
prints PSNR and SSIM inside the brain, and each fit's wall and CPU time (on a busy machine the
CPU seconds of a 1-thread fit are what it would take on an idle core); with ``--device cuda``
also each fit's peak CUDA memory. Asserts nothing.

    python benchmarks/inr_quality.py [--subject 01] [--thickness 4] [--profile fast] [--threads 1]
    python benchmarks/inr_quality.py --device cuda --resolution 1 --methods inr-splithead \
        --profile paper     # the GPU timing of a 1 mm brain
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from embedded_case import embedded_case

from isosr.fit import peak_gpu_memory_mb
from isosr.methods import create_method
from isosr.metrics import psnr, ssim
from isosr.simulate import Acquisition

METHODS = ("cubic", "inr-single", "inr-vanilla", "inr-splithead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subject", default="01")
    parser.add_argument("--thickness", type=float, default=4.0)
    parser.add_argument("--resolution", type=float, default=2.0)
    parser.add_argument("--profile", default="fast")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument("--param", action="append", default=[],
                        help="NAME=VALUE (JSON) hyper-parameter of every INR")
    parser.add_argument("--scenarios", nargs="+", default=["T2w", "FLAIR"],
                        help="the coronal contrast of each scenario (T1w is axial)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    extra = {k: json.loads(v) for k, v in (p.split("=", 1) for p in args.param)}
    for other in args.scenarios:
        acquisitions = {"T1w": Acquisition("axial", args.thickness),
                        other: Acquisition("coronal", args.thickness)}
        hr, lr, grid = embedded_case(args.subject, acquisitions, args.resolution)
        print(f"scenario T1w-ax{args.thickness:g}-{other}-cor{args.thickness:g}, subject "
              f"{args.subject}, {args.resolution:g} mm grid {grid.shape}, {args.threads} thread(s)")
        for method in args.methods:
            params = None if method == "cubic" else {"profile": args.profile,
                                                       "device": args.device, **extra}
            model = create_method(method, params, seed=0)
            if args.device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            start, cpu_start = time.perf_counter(), time.process_time()
            predictions = model.fit_predict(lr, grid).images
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            scores = "  ".join(f"{c} PSNR {psnr(predictions[c], hr[c], grid.mask):6.2f} dB "
                               f"SSIM {ssim(predictions[c], hr[c], grid.mask):.4f}"
                               for c in sorted(hr))
            gpu = peak_gpu_memory_mb(args.device)
            memory = "" if gpu is None else f"  peak CUDA {gpu:,.0f} MB"
            print(f"  {method:14s} {wall:6.1f} s wall {cpu:6.1f} s CPU  {scores}{memory}",
                  flush=True)


if __name__ == "__main__":
    main()
