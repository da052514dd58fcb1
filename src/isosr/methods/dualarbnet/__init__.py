"""Dual-ArbNet (Zhang et al. 2023): multi-contrast arbitrary-scale super-resolution, a target
contrast super-resolved with the help of a reference contrast at its own resolution, trained on
a cohort (declared in ``isosr.methods.catalog``)."""
