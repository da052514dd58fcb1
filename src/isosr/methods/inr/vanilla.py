"""Vanilla multi-contrast INR (McGinnis et al. 2023, ablation): one network, C outputs."""

from __future__ import annotations

from torch import nn

from isosr.methods.inr.method import INRMethod
from isosr.methods.inr.model import NetworkGeometry, vanilla_inr


class VanillaINR(INRMethod):
    """All contrasts share every weight up to one linear output layer."""

    def build_network(self, contrasts: int, geometry: NetworkGeometry) -> nn.Module:
        return vanilla_inr(self.params, contrasts, geometry)
