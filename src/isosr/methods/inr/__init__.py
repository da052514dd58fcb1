"""The INR family of McGinnis et al. 2023: single-contrast, vanilla and split-head INRs
(declared in ``isosr.methods.catalog``; importing this package imports no PyTorch)."""
