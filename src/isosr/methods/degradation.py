"""What a method is told of the degradation: ``informed`` methods get each scan's acquisition as
the scenario simulated it (slice profile and model), ``blind`` ones only what a clinical scan's
header tells: the view and the nominal slice thickness, assumed acquired with a Gaussian slice
profile of FWHM = thickness (isosr's ``slice-profile`` model). Where the scenario's model is
``slice-profile`` the assumption happens to be right; the row is still blind."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from isosr.io import LRImage
from isosr.methods.profiles import help_field

DEGRADATIONS = ("informed", "blind")
ASSUMED_MODEL = "slice-profile"


def degradation_field(informed: str) -> Any:
    """The ``degradation`` hyper-parameter of a method that can use the true degradation."""
    return help_field(f"informed ({informed}) or blind (a Gaussian slice profile at the nominal "
                      "thickness)", "informed")


def as_assumed(image: LRImage, degradation: str) -> LRImage:
    """``image`` with the acquisition model the method may use: its own, or (blind) the
    Gaussian slice profile at its nominal thickness."""
    return image if degradation == "informed" else replace(image, model=ASSUMED_MODEL)
