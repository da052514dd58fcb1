"""The forward model of the INR fit: what an LR voxel measures of the continuous image.

- ``point`` (McGinnis et al. 2023): the INR at the voxel centre.
- ``slice-profile`` (as NeSVoR does for fetal stacks): the INR averaged over the voxel's point
  spread function, so a thick slice supervises the slab it measured rather than one point.
  In-plane a box of one voxel; through-plane the profile of the scan's acquisition model
  (``LRImage.model``, see ``isosr.simulate``): a Gaussian with FWHM = slice thickness for
  ``slice-profile``, none (the slice centre) for ``spline`` and ``decimate``, which sample the
  image at the slice centre. ``kspace`` (an ideal low-pass: a sinc profile, with negative lobes,
  that no sampling density follows) is refused by name. Each training step draws, per LR voxel,
  ``samples`` points from that profile: in-plane offsets uniform in the box, through-plane
  offsets stratified (one per equal-probability stratum of the Gaussian), which keeps the
  Monte-Carlo estimate of the average unbiased with little variance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from isosr.io import InputError, LRImage, voxel_spacing
from isosr.methods.inr.coordinates import CoordinateFrame
from isosr.simulate import FWHM_PER_SIGMA, through_plane_axis

STRATUM_EDGE = 1e-6  # keeps the Gaussian quantile finite at the ends of the outer strata
# Acquisition model -> whether its through-plane profile is the Gaussian (else the slice centre).
THROUGH_PLANE_GAUSSIAN = {"slice-profile": True, "spline": False, "decimate": False}


@dataclass(frozen=True)
class SliceProfile:
    """Per contrast: the in-plane voxel edges and the through-plane sigma, as normalised vectors.

    ``in_plane`` (C, 2, 3): the displacement of one voxel along each in-plane array axis;
    ``normal`` (C, 3): one standard deviation of the Gaussian along the slice normal.
    """

    samples: int
    in_plane: torch.Tensor
    normal: torch.Tensor

    @classmethod
    def of(cls, images: Mapping[str, LRImage], frame: CoordinateFrame, samples: int,
           device: torch.device) -> SliceProfile:
        """The profiles of ``images`` ({contrast: image}, in sample-contrast order) in ``frame``;
        an acquisition model without a samplable profile is refused naming the contrast."""
        in_plane, normal = [], []
        for contrast, image in images.items():
            if image.model not in THROUGH_PLANE_GAUSSIAN:
                raise InputError(f"forward_model: 'slice-profile' cannot follow {contrast}'s "
                                 f"acquisition model {image.model!r} (an ideal low-pass: its sinc "
                                 "profile has negative lobes); use forward_model: point")
            axis = through_plane_axis(image.affine, image.view)
            columns = np.asarray(image.affine, dtype=np.float64)[:3, :3] / frame.half_extent
            direction = columns[:, axis] / voxel_spacing(image.affine)[axis]
            in_plane.append(np.stack([columns[:, a] for a in range(3) if a != axis]))
            sigma = image.thickness / FWHM_PER_SIGMA if THROUGH_PLANE_GAUSSIAN[image.model] else 0
            normal.append(direction * sigma)
        as_tensor = lambda a: torch.tensor(np.stack(a), dtype=torch.float32, device=device)  # noqa: E731
        return cls(samples, as_tensor(in_plane), as_tensor(normal))

    def offsets(self, contrast_index: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B, samples, 3) offsets from the voxel centres of samples of these contrasts."""
        shape = (contrast_index.shape[0], self.samples)
        device = contrast_index.device
        box = torch.rand(*shape, 2, generator=generator, device=device) - 0.5
        strata = torch.arange(self.samples, device=device, dtype=torch.float32)
        uniform = (strata + torch.rand(*shape, generator=generator, device=device)) / self.samples
        gaussian = torch.special.ndtri(uniform.clamp(STRATUM_EDGE, 1.0 - STRATUM_EDGE))
        in_plane, normal = self.in_plane[contrast_index], self.normal[contrast_index]
        return (torch.einsum("bka,bad->bkd", box, in_plane)
                + gaussian[..., None] * normal[:, None, :])
