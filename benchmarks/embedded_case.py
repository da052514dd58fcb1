"""One embedded subject as the workflow would present it to a method, without the workflow.

HR images: the embedded generator's contrasts (template space, no head pose), cropped to the
brain plus 6 mm and min-max normalised between the 0.5th and 99.5th percentile inside the brain
(as preprocessing does); LR images simulated from them (``isosr.simulate``).
"""

from __future__ import annotations

import numpy as np

from isosr.data.embedded import EmbeddedOptions, subject_anatomy, synthesise
from isosr.io import Grid, LRImage
from isosr.metrics import mask_bounding_box
from isosr.preprocess import normalise
from isosr.simulate import Acquisition, simulate_lr

MARGIN_MM = 6.0


def embedded_case(subject: str, acquisitions: dict[str, Acquisition], resolution_mm: float = 2.0
                  ) -> tuple[dict[str, np.ndarray], dict[str, LRImage], Grid]:
    """HR truth and simulated LR images of ``subject``, and the HR grid with its brain mask."""
    options = EmbeddedOptions(subjects=max(3, int(subject)), resolution_mm=resolution_mm)
    warped, _, affine = subject_anatomy(subject, options)
    brain = (warped["GM"] + warped["WM"] + warped["CSF"]) > 0.5
    margin = int(np.ceil(MARGIN_MM / resolution_mm))
    box = tuple(slice(max(b.start - margin, 0), b.stop + margin)
                for b in mask_bounding_box(brain))
    cropped = affine.copy()
    cropped[:3, 3] = affine[:3, :3] @ np.array([b.start for b in box]) + affine[:3, 3]
    mask = brain[box]
    grid = Grid(mask.shape, cropped, mask)
    hr, lr = {}, {}
    for contrast, acquisition in acquisitions.items():
        image, _ = synthesise(subject, contrast, options)
        hr[contrast], _ = normalise(image[box], mask, (0.5, 99.5))
        data, lr_affine = simulate_lr(hr[contrast], cropped, acquisition, seed=contrast)
        lr[contrast] = LRImage(data, lr_affine, acquisition.view, acquisition.thickness)
    return hr, lr, grid
