"""The names every module shares, defined once: contrasts (BIDS suffixes, in table order),
acquisition views and the world axis each is thick along, and the tissue classes with their
segmentation labels."""

from __future__ import annotations

# Table / column order: McGinnis et al. put T1w first.
CONTRASTS = ("T1w", "T2w", "FLAIR", "PDw")
# RAS world axis normal to each view's slices (the axis its thick slices are stacked along).
VIEW_WORLD_AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
VIEWS = ("axial", "coronal", "sagittal")
# Labels of the three tissue classes in every segmentation (dseg) file.
TISSUES = {"CSF": 1, "GM": 2, "WM": 3}
