"""The declaration of every method, in the order of the tables (McGinnis et al. 2023, Table 1,
then the cohort-trained methods). Adding a method: its implementation module plus one entry here.

Only light modules are imported here (hyper-parameter dataclasses, no PyTorch).
"""

from __future__ import annotations

from isosr.methods.arssr.params import ArSSRParams
from isosr.methods.base import NoParams
from isosr.methods.dualarbnet.params import DualArbNetParams
from isosr.methods.eclare.params import ECLAREParams
from isosr.methods.inr.params import INRParams, SingleParams, SplitHeadParams
from isosr.methods.lrtv.params import LRTVParams
from isosr.methods.sainr.params import SAINRParams
from isosr.methods.spec import Knowledge, MethodSpec


def _psf_knowledge(params: INRParams) -> Knowledge:
    """The slice-profile forward model integrates the acquisition's PSF (told it: informed);
    point samples know nothing of it."""
    informed = params.forward_model == "slice-profile" and params.degradation == "informed"
    return "informed" if informed else "blind"


def _told(params: LRTVParams | ECLAREParams) -> Knowledge:
    """Informed unless the method's ``degradation`` is blind."""
    return "informed" if params.degradation == "informed" else "blind"


SPECS: tuple[MethodSpec, ...] = (
    MethodSpec("nearest", kind="subject", gpu=False, env="envs/inr.yaml", params=NoParams,
               implementation="isosr.methods.interpolation:NearestNeighbour",
               summary="Nearest-neighbour interpolation: the floor any method must beat.",
               knowledge="blind"),
    MethodSpec("cubic", kind="subject", gpu=False, env="envs/inr.yaml", params=NoParams,
               implementation="isosr.methods.interpolation:CubicSpline",
               summary="Cubic B-spline interpolation of each LR image.", knowledge="blind"),
    MethodSpec("lrtv", kind="subject", gpu=False, env="envs/inr.yaml", params=LRTVParams,
               implementation="isosr.methods.lrtv.method:LRTV", label="LRTV",
               summary="Low-rank + total-variation reconstruction (Shi et al. 2015) with the "
                       "scenario's own acquisition operator, each contrast alone.",
               knowledge=_told),
    MethodSpec("eclare", kind="subject", gpu=True, env="envs/inr.yaml", params=ECLAREParams,
               implementation="isosr.methods.eclare.method:ECLARE", label="SMORE (ECLARE)",
               summary="SMORE's successor ECLARE (external tool, its own environment), each "
                       "contrast alone.",
               knowledge=_told,  # given the scenario's exact slice profile, unless blind
               note="SMORE (ECLARE): McGinnis et al. ran SMORE v3.1.2, whose code is not "
                    "publicly available; ECLARE 1.0.1 is its successor from the same lab "
                    "(same self-supervised through-plane training, WDSR network)."),
    MethodSpec("inr-single", kind="subject", gpu=True, env="envs/inr.yaml", params=SingleParams,
               implementation="isosr.methods.inr.single:SingleContrastINR",
               summary="One INR per contrast (McGinnis et al. 2023, Baseline 4).",
               knowledge=_psf_knowledge),
    MethodSpec("inr-vanilla", kind="subject", gpu=True, env="envs/inr.yaml", params=INRParams,
               implementation="isosr.methods.inr.vanilla:VanillaINR",
               summary="One multi-contrast INR, one output per contrast (ablation).",
               knowledge=_psf_knowledge),
    MethodSpec("inr-splithead", kind="subject", gpu=True, env="envs/inr.yaml",
               params=SplitHeadParams,
               implementation="isosr.methods.inr.splithead:SplitHeadINR",
               summary="Shared trunk + one head per contrast (McGinnis et al. 2023, proposed).",
               knowledge=_psf_knowledge),
    MethodSpec("arssr", kind="cohort", gpu=True, env="envs/inr.yaml", params=ArSSRParams,
               implementation="isosr.methods.arssr.method:ArSSR",
               summary="ArSSR (Wu et al. 2023): CNN encoder + implicit MLP decoder, one model "
                       "per contrast, trained on the training subjects.",
               knowledge="informed"),  # cohort methods train on pairs at the test acquisition
    MethodSpec("sa-inr", kind="cohort", gpu=True, env="envs/inr.yaml", params=SAINRParams,
               implementation="isosr.methods.sainr.method:SAINR",
               summary="SA-INR (Wang et al.): EDSR-3D encoder, gated local spatial attention "
                       "over the neighbouring slices, implicit decoder over trilinear "
                       "interpolation; one model per contrast, trained on the training subjects.",
               knowledge="informed"),
    MethodSpec("dual-arbnet", kind="cohort", gpu=True, env="envs/inr.yaml",
               params=DualArbNetParams,
               implementation="isosr.methods.dualarbnet.method:DualArbNet",
               summary="Dual-ArbNet (Zhang et al. 2023): shared 2D encoder + implicit fusion "
                       "decoder, each contrast super-resolved with the other as reference, "
                       "trained on the training subjects.",
               knowledge="informed"),
)
