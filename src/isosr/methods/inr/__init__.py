"""The INR family of McGinnis et al. 2023: single-contrast, vanilla and split-head INRs.

Importing this package registers ``inr-single``, ``inr-vanilla`` and ``inr-splithead``.
"""

from isosr.methods.inr import single, splithead, vanilla  # noqa: F401  (registration)
