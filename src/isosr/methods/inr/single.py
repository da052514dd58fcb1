"""Single-contrast INRs (McGinnis et al. 2023, Baseline 4): one independent INR per contrast."""

from __future__ import annotations

from torch import nn

from isosr.methods.inr.method import INRMethod
from isosr.methods.inr.model import single_inrs


class SingleContrastINR(INRMethod):
    """No information flows between contrasts; trained in the shared loop, each on its voxels."""

    def build_network(self, contrasts: int) -> nn.Module:
        return single_inrs(self.params, contrasts)
