"""The embedded default dataset: multi-contrast 'subjects' derived from the ICBM152 2009 template.

This is not patient data. The anatomy is the MNI ICBM152 2009c symmetric template shipped with
nilearn: its T1w image is the T1w contrast; T2w, FLAIR and PDw are synthesised from its grey and
white-matter probability maps (CSF = brain mask - GM - WM) with textbook signal equations:

- spin echo:          S = PD (1 - exp(-TR/T1)) exp(-TE/T2)
- inversion recovery: S = PD |1 - 2 exp(-TI/T1) + exp(-TR/T1)| exp(-TE/T2), TI nulling CSF

Relaxation times at 3 T: grey and white matter from Stanisz et al., MRM 54:507 (2005)
(GM T1 1820 ms, T2 99 ms; WM T1 1084 ms, T2 69 ms); CSF T1 4000 ms and T2 2000 ms are the round
values commonly used in simulation (e.g. the BrainWeb phantom uses the same order). Relative
proton densities GM 0.80, WM 0.69, CSF 1.00. White-matter lesions (as in multiple sclerosis)
use T1 1400 ms, T2 150 ms, PD 0.85: bright in T2w and FLAIR, only faintly dark in T1w.

Each subject gets a smooth random deformation, its own lesions, and per contrast a smooth bias
field, Rician noise and a random head pose (written into the affine, so registration has real
work to do). Everything is seeded: the same options give bit-identical files.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from isosr.data.templates import mni152_file
from isosr.io import InputError, resample_to_grid, rescaled_grid
from isosr.vocabulary import CONTRASTS


@dataclass(frozen=True)
class Tissue:
    """Relaxation times (ms) and relative proton density of one tissue at 3 T."""

    t1: float
    t2: float
    pd: float


TISSUES = {
    "GM": Tissue(1820.0, 99.0, 0.80),
    "WM": Tissue(1084.0, 69.0, 0.69),
    "CSF": Tissue(4000.0, 2000.0, 1.00),
    "lesion": Tissue(1400.0, 150.0, 0.85),
}

# (TR, TE) in ms of the spin-echo contrasts; FLAIR adds an inversion time that nulls CSF.
SPIN_ECHO = {"T2w": (6000.0, 100.0), "PDw": (5000.0, 15.0)}
FLAIR_TR_TE = (9000.0, 125.0)
T1W_LESION_DARKENING = 0.25


@dataclass(frozen=True)
class EmbeddedOptions:
    """Options of the embedded dataset (mirrors the config schema's ``embedded`` block)."""

    subjects: int = 3
    resolution_mm: float = 2.0
    deformation_mm: float = 3.0
    lesions: int = 6
    bias_field: float = 0.15
    noise: float = 0.01
    pose_degrees: float = 6.0
    pose_mm: float = 6.0
    seed: int = 0


def subject_ids(options: EmbeddedOptions) -> list[str]:
    """Zero-padded subject labels '01', '02', ..."""
    return [f"{i:02d}" for i in range(1, options.subjects + 1)]


def _rng(options: EmbeddedOptions, *keys: str) -> np.random.Generator:
    text = "/".join([str(options.seed), *keys])
    digest = hashlib.sha256(text.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@lru_cache(maxsize=4)
def template_maps(resolution_mm: float) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """T1w intensity and GM/WM/CSF fractions of ICBM152 on a ``resolution_mm`` grid + affine."""
    source = nib.load(str(mni152_file("T1w")))
    zoom = resolution_mm / float(source.header.get_zooms()[0])
    grid = rescaled_grid(source.shape, source.affine, resolution_mm)
    sigma = max(zoom, 1.0) / 2.355 if zoom > 1 else 0.0  # anti-alias: FWHM = new voxel size
    maps = {}
    for kind in ("T1w", "GM", "WM"):
        image = nib.load(str(mni152_file(kind)))
        data = np.asarray(image.dataobj, dtype=np.float32) / 255.0
        if sigma:
            data = ndimage.gaussian_filter(data, sigma)
        maps[kind] = np.clip(resample_to_grid(data, image.affine, grid, order=1, cval=0.0), 0, 1)
    brain = (maps["T1w"] > 0.02).astype(np.float32)
    maps["CSF"] = np.clip(brain - maps["GM"] - maps["WM"], 0.0, 1.0)
    return maps, grid.affine


def smooth_displacement(shape: tuple[int, ...], spacing: float, amplitude_mm: float,
                        rng: np.random.Generator) -> np.ndarray:
    """A smooth random displacement field (voxels, shape (3, *shape)), max norm = amplitude."""
    sigma = 16.0 / spacing  # correlation length of ~16 mm
    field = np.stack([ndimage.gaussian_filter(rng.standard_normal(shape), sigma) for _ in range(3)])
    norm = np.sqrt((field**2).sum(axis=0)).max()
    return field * (amplitude_mm / spacing / norm) if norm > 0 else field


def lesion_map(white_matter: np.ndarray, count: int, spacing: float,
               rng: np.random.Generator) -> np.ndarray:
    """Soft ellipsoidal lesions (radii 2-5 mm) centred in deep white matter, values in [0, 1]."""
    lesions = np.zeros(white_matter.shape, dtype=np.float32)
    candidates = np.argwhere(white_matter > 0.9)
    if count == 0 or len(candidates) == 0:
        return lesions
    grid = np.indices(white_matter.shape, dtype=np.float32)
    for centre in candidates[rng.choice(len(candidates), size=count, replace=False)]:
        radii = rng.uniform(2.0, 5.0, size=3) / spacing
        distance = np.sqrt(sum(((grid[a] - centre[a]) / radii[a]) ** 2 for a in range(3)))
        lesions = np.maximum(lesions, 1.0 / (1.0 + np.exp((distance - 1.0) * 6.0)))
    return lesions * (white_matter > 0.5)


def spin_echo(tissue: Tissue, tr: float, te: float) -> float:
    """Spin-echo signal of one tissue."""
    return tissue.pd * (1.0 - np.exp(-tr / tissue.t1)) * np.exp(-te / tissue.t2)


def inversion_recovery(tissue: Tissue, tr: float, te: float, ti: float) -> float:
    """Magnitude inversion-recovery signal of one tissue."""
    return tissue.pd * abs(1.0 - 2.0 * np.exp(-ti / tissue.t1) + np.exp(-tr / tissue.t1)) \
        * np.exp(-te / tissue.t2)


def csf_nulling_inversion_time(tr: float) -> float:
    """TI at which the CSF signal crosses zero for repetition time ``tr``."""
    t1 = TISSUES["CSF"].t1
    return float(t1 * np.log(2.0 / (1.0 + np.exp(-tr / t1))))


def tissue_signal(contrast: str, tissue: Tissue) -> float:
    """Signal of ``tissue`` in a synthesised contrast."""
    if contrast == "FLAIR":
        tr, te = FLAIR_TR_TE
        return inversion_recovery(tissue, tr, te, csf_nulling_inversion_time(tr))
    tr, te = SPIN_ECHO[contrast]
    return spin_echo(tissue, tr, te)


def bias_field(shape: tuple[int, ...], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative field: exp of a random quadratic polynomial, range ~[1-s, 1+s]."""
    axes = [np.linspace(-1.0, 1.0, n) for n in shape]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    terms = [x, y, z, x * y, x * z, y * z, x**2, y**2, z**2]
    log_field = sum(c * t for c, t in zip(rng.uniform(-1, 1, len(terms)), terms, strict=True))
    log_field /= max(np.abs(log_field).max(), 1e-9)
    return np.exp(np.log1p(strength) * log_field).astype(np.float32)


def random_pose(affine: np.ndarray, shape: tuple[int, ...], degrees: float, mm: float,
                rng: np.random.Generator) -> np.ndarray:
    """``affine`` moved by a random rigid transform about the FOV centre (the head's pose)."""
    rotation = Rotation.from_rotvec(np.deg2rad(rng.uniform(-degrees, degrees, 3))).as_matrix()
    centre = affine[:3, :3] @ ((np.asarray(shape) - 1) / 2.0) + affine[:3, 3]
    pose = np.eye(4)
    pose[:3, :3] = rotation
    pose[:3, 3] = centre - rotation @ centre + rng.uniform(-mm, mm, 3)
    return pose @ affine


def subject_anatomy(subject: str, options: EmbeddedOptions
                    ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Deformed T1w and tissue fractions, lesion map, and template-space affine of a subject."""
    maps, affine = template_maps(float(options.resolution_mm))
    shape = maps["T1w"].shape
    displacement = smooth_displacement(shape, options.resolution_mm, options.deformation_mm,
                                       _rng(options, subject, "deformation"))
    coordinates = np.indices(shape, dtype=np.float32) + displacement
    warped = {k: ndimage.map_coordinates(v, coordinates, order=1, mode="constant")
              for k, v in maps.items()}
    lesions = lesion_map(warped["WM"], options.lesions, options.resolution_mm,
                         _rng(options, subject, "lesions"))
    return warped, lesions, affine


def synthesise(subject: str, contrast: str, options: EmbeddedOptions
               ) -> tuple[np.ndarray, np.ndarray]:
    """Image (arbitrary units) and affine (random head pose) of one contrast of one subject."""
    if contrast not in CONTRASTS:
        raise InputError(f"the embedded dataset has no contrast {contrast!r}; "
                         f"choose from {list(CONTRASTS)}")
    warped, lesions, affine = subject_anatomy(subject, options)
    shape = lesions.shape
    if contrast == "T1w":
        image = warped["T1w"] * (1.0 - T1W_LESION_DARKENING * lesions)
    else:
        fractions = {"GM": warped["GM"], "WM": warped["WM"] * (1.0 - lesions),
                     "CSF": warped["CSF"], "lesion": warped["WM"] * lesions}
        image = sum(f * tissue_signal(contrast, TISSUES[t]) for t, f in fractions.items())
        image = image / max(tissue_signal(contrast, t) for t in TISSUES.values())
    rng = _rng(options, subject, contrast)
    image = image * bias_field(shape, options.bias_field, rng)
    sigma = options.noise * float(np.percentile(image[image > 0], 99))
    real = image + rng.normal(0.0, sigma, shape)
    image = np.sqrt(real**2 + rng.normal(0.0, sigma, shape) ** 2)
    pose = random_pose(affine, shape, options.pose_degrees, options.pose_mm, rng)
    return (image * 1000.0).astype(np.float32), pose


def lesion_mask(subject: str, options: EmbeddedOptions) -> tuple[np.ndarray, np.ndarray]:
    """Binary lesion mask of a subject in template space (for pathology-preservation checks)."""
    _, lesions, affine = subject_anatomy(subject, options)
    return (lesions > 0.5).astype(np.uint8), affine
