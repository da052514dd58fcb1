"""Vanilla multi-contrast INR (McGinnis et al. 2023, ablation): one network, C outputs."""

from __future__ import annotations

from isosr.methods.inr.method import INRMethod
from isosr.methods.inr.model import MultiOutputINR, NetworkGeometry, vanilla_inr


class VanillaINR(INRMethod):
    """All contrasts share every weight up to one linear output layer."""

    def build_network(self, contrasts: int, geometry: NetworkGeometry) -> MultiOutputINR:
        return vanilla_inr(self.params, contrasts, geometry)
