"""Clinical scans without ground truth (issue #22): each contrast is the stack as acquired.

- ``acquisition``: what a scan's file says about how it was acquired (slice axis and view from
  the affine, slice thickness from the BIDS sidecar when it has one), 2D stack or isotropic;
- ``alignment``: the contrasts of a session rigidly registered to the reference contrast, by
  updating only their affines (the acquired voxels reach a method untouched), the reference's
  brain mask and the session's isotropic HR grid;
- ``study``: an LR-only BIDS study made from the embedded generator, every contrast moved by a
  known rigid transform (test data for the above).
"""
