"""Split-head multi-contrast INR (McGinnis et al. 2023, the proposed model)."""

from __future__ import annotations

from isosr.methods.inr.method import INRMethod
from isosr.methods.inr.model import MultiOutputINR, NetworkGeometry, split_head_inr


class SplitHeadINR(INRMethod):
    """Shared trunk learns the common anatomy; one small head per contrast specialises."""

    def build_network(self, contrasts: int, geometry: NetworkGeometry) -> MultiOutputINR:
        return split_head_inr(self.params, contrasts, geometry)
