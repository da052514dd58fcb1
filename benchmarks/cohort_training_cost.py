"""Training and prediction cost of a cohort method, with its held-out PSNR beside interpolation.

Five embedded subjects (2 mm, template space, HR normalised to the 99.5th percentile of the
template's brain) train the method on T1w axial 4 mm + T2w coronal 4 mm (slice profile); a sixth
is predicted. Prints wall seconds (training, per epoch, prediction), the device, and PSNR of the
method, nearest and cubic per contrast; asserts nothing. ``--epochs N`` trains only N epochs and
projects the profile's full training time from them (the line says so), e.g. for the ``paper``
profile on a GPU:

    python benchmarks/cohort_training_cost.py --method dual-arbnet --profile cpu [--threads 1]
    python benchmarks/cohort_training_cost.py --method arssr --profile paper --epochs 2
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from isosr.data.embedded import EmbeddedOptions, synthesise, template_maps
from isosr.io import Grid, LRImage
from isosr.methods import create_method, method_spec
from isosr.methods.base import TrainingContext, TrainingPair
from isosr.metrics import psnr
from isosr.simulate import Acquisition, simulate_lr

ACQUISITIONS = {"T1w": Acquisition("axial", 4.0), "T2w": Acquisition("coronal", 4.0)}


def subject(name: str, mask: np.ndarray, affine: np.ndarray
            ) -> tuple[dict[str, np.ndarray], Grid, dict[str, LRImage]]:
    """HR images, grid and simulated LR scans of one embedded subject."""
    hr, lr = {}, {}
    for contrast, acquisition in ACQUISITIONS.items():
        image, _ = synthesise(name, contrast, EmbeddedOptions(subjects=6))
        hr[contrast] = (np.clip(image / np.percentile(image[mask], 99.5), 0, 1) * mask
                        ).astype(np.float32)
        data, lr_affine = simulate_lr(hr[contrast], affine, acquisition)
        lr[contrast] = LRImage(data, lr_affine, acquisition.view, acquisition.thickness,
                               acquisition.model)
    return hr, Grid(mask.shape, affine, mask), lr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="dual-arbnet")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--epochs", type=int, help="train this many epochs and project")
    parser.add_argument("--threads", type=int, default=1)
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    maps, affine = template_maps(2.0)
    mask = maps["T1w"] > 0.02
    subjects = [subject(f"{n:02d}", mask, affine) for n in range(1, 7)]
    pairs = [TrainingPair(f"{n:02d}", hr, grid, lr) for n, (hr, grid, lr) in
             enumerate(subjects[1:], start=2)]
    params = {"profile": arguments.profile}
    full_epochs = method_spec(arguments.method).make_params(params).epochs
    if arguments.epochs:
        params["epochs"] = arguments.epochs
    method = create_method(arguments.method, params)
    with tempfile.TemporaryDirectory() as folder:
        model = Path(folder) / "model.pt"
        start = time.perf_counter()
        trained = method.train(pairs, TrainingContext(model))
        seconds = time.perf_counter() - start
        hr, grid, lr = subjects[0]
        start = time.perf_counter()
        images = method.predict(model, lr, grid).images
        predict_seconds = time.perf_counter() - start
    epochs = method.params.epochs
    print(f"{arguments.method} ({arguments.profile}) on {trained.device}, grid {grid.shape}, "
          f"{len(pairs)} training subjects, {arguments.threads} thread(s)")
    print(f"training: {seconds:.0f} s for {epochs} epoch(s) of every contrast "
          f"({seconds / epochs:.1f} s per epoch)")
    if epochs != full_epochs:
        print(f"projected full training ({full_epochs} epochs): "
              f"{seconds / epochs * full_epochs:.0f} s")
    print(f"prediction of one subject: {predict_seconds:.1f} s")
    baselines = {name: create_method(name).fit_predict(lr, grid).images
                 for name in ("nearest", "cubic")}
    for contrast in ACQUISITIONS:
        scores = {name: psnr(result[contrast], hr[contrast], grid.mask) for name, result in
                  {arguments.method: images, **baselines}.items()}
        print(contrast, "PSNR (dB):", ", ".join(f"{k} {v:.2f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
