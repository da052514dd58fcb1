"""Tissue segmentation of HR images (ground truth and every method's output) for Dice and AVD.

Label conventions of the ``*_dseg.nii.gz`` files (0 is always background / outside the brain mask):

- ``ants`` back-end (Atropos): tissue labels 1 = CSF, 2 = GM, 3 = WM.
- ``fastsurfer`` back-end: structure labels 1 = CSF, 2 = cortical GM, 3 = cerebral WM,
  4 = cerebellar cortex, 5 = cerebellar WM, 6 = brain stem, 7 = deep (subcortical) GM. They group
  into the same three tissues: CSF = {1}, GM = {2, 4, 7}, WM = {3, 5, 6}.

Every segmentation has a JSON sidecar naming its back-end, contrast and labels; evaluation reads the
regions to score from it (``regions``), so it never has to know which back-end ran.

``ants`` back-end: one class model for all images of a subject. Atropos (k-means initialisation,
MRF prior) segments the ground truth; from its labels the truth's tissue model is taken (per tissue
the mean and standard deviation of the truth's intensities and the tissue's share of the mask,
``ClassModel``). The ground truth and every prediction of that subject are then labelled with this
same fixed model (``classify``: Gaussian likelihoods, tissue shares and a Potts MRF prior, iterated
conditional modes). Re-estimating the classes per image, as Atropos's EM does, moves the optimum
with the image's smoothness (a 0.5-voxel blur of the truth grew its CSF by 6-44 %), which
rewards blocky interpolation in the AVD; with a fixed model, a volume differs only when the
prediction's intensities do. The model is stored in the truth's sidecar (``class_model``).

Atropos orders its k-means classes by intensity, darkest first. Which tissue is darkest depends on
the contrast (CSF is dark in T1w and FLAIR, bright in T2w and PDw), so the ranks are mapped to
tissues per contrast (``INTENSITY_ORDER``). T1w is the default segmentation contrast: its three
classes are the best separated, and lesions (bright in T2w/FLAIR) do not form a spurious class.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from scipy import ndimage

from isosr.io import Grid, InputError, load_nifti, resample_to_grid, save_json, save_nifti
from isosr.vocabulary import TISSUES

log = logging.getLogger(__name__)

BACKENDS = ("ants", "fastsurfer")

# Tissues from darkest to brightest in each contrast (Atropos label 1, 2, 3 in this order).
INTENSITY_ORDER = {
    "T1w": ("CSF", "GM", "WM"),
    "T2w": ("WM", "GM", "CSF"),
    "FLAIR": ("CSF", "WM", "GM"),
    "PDw": ("WM", "GM", "CSF"),
}

# SA-INR's structures (Wang et al., Table IV) plus deep GM, so that every brain voxel has a tissue.
STRUCTURES = {"CSF": 1, "cortical-GM": 2, "cerebral-WM": 3, "cerebellar-cortex": 4,
              "cerebellar-WM": 5, "brain-stem": 6, "deep-GM": 7}
STRUCTURE_TISSUE = {"CSF": "CSF", "cortical-GM": "GM", "cerebral-WM": "WM",
                    "cerebellar-cortex": "GM", "cerebellar-WM": "WM", "brain-stem": "WM",
                    "deep-GM": "GM"}

# FreeSurfer label ids (FreeSurferColorLUT.txt) in FastSurfer's aparc.DKTatlas+aseg -> structure.
# Cortical parcels (1000-1999 left, 2000-2999 right) are cortical GM; the choroid plexus is
# counted as CSF (it lies inside the ventricles); vessels and unknown labels become background.
FREESURFER_STRUCTURES = {
    **dict.fromkeys((2, 41, 77, 85, 251, 252, 253, 254, 255), "cerebral-WM"),
    **dict.fromkeys((3, 42), "cortical-GM"),
    **dict.fromkeys((4, 5, 14, 15, 24, 31, 43, 44, 63, 72), "CSF"),
    **dict.fromkeys((7, 46), "cerebellar-WM"),
    **dict.fromkeys((8, 47), "cerebellar-cortex"),
    16: "brain-stem",
    **dict.fromkeys((10, 11, 12, 13, 17, 18, 26, 28, 49, 50, 51, 52, 53, 54, 58, 60), "deep-GM"),
}
CORTICAL_PARCELS = (1000, 2999)
FASTSURFER_OUTPUT = "mri/aparc.DKTatlas+aseg.deep.mgz"


@dataclass(frozen=True)
class FastSurferSpec:
    """How to run FastSurfer's segmentation: container runtime, image and device."""

    runtime: str = "apptainer"
    image: str | None = None
    device: str = "cpu"
    threads: int = 1

    def __post_init__(self) -> None:
        if self.image is not None and self.image.startswith("-"):
            raise InputError(f"segmentation.fastsurfer.image: {self.image!r} starts with '-', "
                             f"which {self.runtime} would read as an option (write a file as "
                             "./-name.sif)")


def label_names(backend: str) -> dict[int, str]:
    """Label id -> name of the segmentations ``backend`` writes."""
    if backend == "ants":
        return {label: name for name, label in TISSUES.items()}
    if backend == "fastsurfer":
        return {label: name for name, label in STRUCTURES.items()}
    raise InputError(f"segmentation.backend: unknown back-end {backend!r}; choose from {BACKENDS}")


def regions(backend: str) -> dict[str, tuple[int, ...]]:
    """Regions to score for ``backend``: the three tissues first, then finer structures if any.

    Each region is a tuple of label ids of the back-end's segmentations.
    """
    if backend == "ants":
        return {name: (label,) for name, label in TISSUES.items()}
    names = label_names(backend)
    tissues = {tissue: tuple(label for label, name in names.items()
                             if STRUCTURE_TISSUE[name] == tissue) for tissue in TISSUES}
    structures = {name: (label,) for label, name in names.items() if name not in TISSUES}
    return {**tissues, **structures}


def atropos_tissues(image: np.ndarray, affine: np.ndarray, mask: np.ndarray, contrast: str,
                    mrf: float = 0.1, iterations: int = 5) -> np.ndarray:
    """3-class Atropos segmentation (k-means init, MRF prior) inside ``mask``: 0/CSF/GM/WM labels.

    The image is clipped to [0, 1] first (predictions are evaluated in that range). Atropos runs
    with a constant internal seed, so the result is repeatable.
    """
    if contrast not in INTENSITY_ORDER:
        raise InputError(f"segmentation.contrast: cannot segment {contrast!r}; "
                         f"choose from {sorted(INTENSITY_ORDER)}")
    # antspyx is imported here only: evaluation and tables use this module's label conventions
    # in environments without it.
    import ants

    from isosr.preprocess import from_ants, to_ants

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise InputError("the brain mask is empty: nothing to segment")
    result = ants.atropos(a=to_ants(np.clip(image, 0.0, 1.0), affine),
                          x=to_ants(mask.astype(np.float32), affine), i="Kmeans[3]",
                          m=f"[{mrf},1x1x1]", c=f"[{iterations},0]", r=0)
    ranks = np.rint(from_ants(result["segmentation"])[0]).astype(np.int64)
    lookup = np.zeros(4, dtype=np.uint8)
    for rank, tissue in enumerate(INTENSITY_ORDER[contrast], start=1):
        lookup[rank] = TISSUES[tissue]
    return np.where(mask, lookup[np.clip(ranks, 0, 3)], 0).astype(np.uint8)


@dataclass(frozen=True)
class ClassModel:
    """Intensity model of the tissues of one image: per tissue (``TISSUES`` order) the mean and
    standard deviation of its intensities and its share of the brain mask."""

    means: tuple[float, ...]
    stds: tuple[float, ...]
    shares: tuple[float, ...]

    @classmethod
    def from_labels(cls, image: np.ndarray, labels: np.ndarray) -> ClassModel:
        """The model of ``image`` (clipped to [0, 1]) under tissue ``labels`` (0 = outside)."""
        image = np.clip(image, 0.0, 1.0)
        inside = labels > 0
        means, stds, shares = [], [], []
        for tissue, label in TISSUES.items():
            values = image[labels == label]
            if values.size < 2:
                raise InputError(f"cannot model tissue {tissue}: only {values.size} voxel(s) of "
                                 "the ground truth are labelled with it")
            means.append(float(values.mean()))
            stds.append(max(float(values.std()), 1e-3))
            shares.append(values.size / int(inside.sum()))
        return cls(tuple(means), tuple(stds), tuple(shares))

    def to_json(self) -> dict[str, dict[str, float]]:
        return {tissue: {"mean": m, "std": s, "share": p} for tissue, m, s, p
                in zip(TISSUES, self.means, self.stds, self.shares, strict=True)}

    @classmethod
    def from_json(cls, record: dict[str, dict[str, float]]) -> ClassModel:
        return cls(*(tuple(float(record[tissue][key]) for tissue in TISSUES)
                     for key in ("mean", "std", "share")))


# 26-neighbourhood weights of the MRF prior: inverse distance in voxels, 0 at the centre.
_OFFSETS = np.indices((3, 3, 3)) - 1
_DISTANCE = np.sqrt((_OFFSETS ** 2).sum(axis=0))
NEIGHBOUR_WEIGHTS = np.divide(1.0, _DISTANCE, out=np.zeros_like(_DISTANCE), where=_DISTANCE > 0)


def classify(image: np.ndarray, mask: np.ndarray, model: ClassModel, mrf: float = 0.1,
             iterations: int = 5) -> np.ndarray:
    """0/CSF/GM/WM labels of ``image`` (clipped to [0, 1]) inside ``mask`` under a fixed model.

    Each voxel takes the tissue of highest log posterior: Gaussian log likelihood + log share +
    ``mrf`` x the inverse-distance weighted count of 26-neighbours with that tissue (a Potts
    prior). Starting from the maximum-likelihood labels, ``iterations`` synchronous sweeps of
    iterated conditional modes update the neighbours (fewer once no label changes).
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        raise InputError("the brain mask is empty: nothing to segment")
    values = np.clip(image, 0.0, 1.0)[mask].astype(np.float64)[:, None]
    means, stds = np.asarray(model.means), np.asarray(model.stds)
    log_posterior = (-0.5 * ((values - means) / stds) ** 2 - np.log(stds)
                      + np.log(np.maximum(model.shares, 1e-12)))
    ranks = np.argmax(log_posterior, axis=1)
    for _ in range(iterations if mrf > 0 else 0):
        neighbours = np.stack([ndimage.correlate(_filled(mask, ranks == k), NEIGHBOUR_WEIGHTS,
                                                 mode="constant")[mask]
                               for k in range(len(TISSUES))], axis=1)
        updated = np.argmax(log_posterior + mrf * neighbours, axis=1)
        if np.array_equal(updated, ranks):
            break
        ranks = updated
    labels = np.zeros(mask.shape, dtype=np.uint8)
    labels[mask] = np.asarray(list(TISSUES.values()), dtype=np.uint8)[ranks]
    return labels


def _filled(mask: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """A float volume that is ``inside`` (values for the mask's voxels) in the mask, else 0."""
    volume = np.zeros(mask.shape, dtype=np.float32)
    volume[mask] = inside
    return volume


def freesurfer_to_structures(aseg: np.ndarray) -> np.ndarray:
    """Map FreeSurfer aseg / aparc+aseg label ids to our structure labels (``STRUCTURES``)."""
    aseg = np.asarray(aseg).astype(np.int64)
    out = np.zeros(aseg.shape, dtype=np.uint8)
    for freesurfer_id, name in FREESURFER_STRUCTURES.items():
        out[aseg == freesurfer_id] = STRUCTURES[name]
    low, high = CORTICAL_PARCELS
    out[(aseg >= low) & (aseg <= high)] = STRUCTURES["cortical-GM"]
    unmapped = np.unique(aseg[(out == 0) & (aseg != 0)])
    if unmapped.size:
        log.info("FreeSurfer labels mapped to background: %s", unmapped.tolist())
    return out


def fastsurfer_command(spec: FastSurferSpec, input_dir: Path, output_dir: Path, t1_name: str,
                       subject_id: str, user: str) -> list[str]:
    """The container command running FastSurfer's segmentation only (no surfaces, no licence).

    ``input_dir`` is mounted read-only at /input and ``output_dir`` at /output; ``user`` is
    ``uid:gid`` for docker, whose image otherwise runs as root.
    """
    fastsurfer_args = ["--t1", f"/input/{t1_name}", "--sid", subject_id, "--sd", "/output",
                       "--seg_only", "--device", spec.device, "--threads", str(spec.threads)]
    if spec.runtime == "docker":
        gpu = ["--gpus", "all"] if spec.device == "cuda" else []
        return ["docker", "run", "--rm", "--user", user, *gpu,
                "-v", f"{input_dir}:/input:ro", "-v", f"{output_dir}:/output",
                str(spec.image), *fastsurfer_args]
    if spec.runtime in ("apptainer", "singularity"):
        gpu = ["--nv"] if spec.device == "cuda" else []
        return [spec.runtime, "exec", "--cleanenv", *gpu,
                "-B", f"{input_dir}:/input:ro", "-B", f"{output_dir}:/output",
                str(spec.image), "/fastsurfer/run_fastsurfer.sh", *fastsurfer_args]
    raise InputError(f"segmentation.fastsurfer.runtime: unknown runtime {spec.runtime!r}; "
                     "choose from apptainer, singularity, docker")


def check_fastsurfer(spec: FastSurferSpec) -> None:
    """Raise InputError unless the container runtime is installed and the image is available."""
    if not spec.image:
        raise InputError("segmentation.fastsurfer.image: not set; name the FastSurfer image "
                         "(e.g. deepmi/fastsurfer:cpu-v2.4.2 for docker, a .sif for apptainer)")
    if shutil.which(spec.runtime) is None:
        raise InputError(f"segmentation.fastsurfer.runtime: {spec.runtime!r} is not installed "
                         "(not on PATH); install it or use segmentation.backend: ants")
    if spec.runtime == "docker":
        probe = subprocess.run(["docker", "image", "inspect", spec.image], capture_output=True,
                               text=True, timeout=60, check=False)
        if probe.returncode != 0:
            raise InputError(f"segmentation.fastsurfer.image: docker image {spec.image!r} is not "
                             f"available: {probe.stderr.strip() or probe.stdout.strip()}")
    elif "://" not in spec.image and not Path(spec.image).is_file():
        raise InputError(f"segmentation.fastsurfer.image: {spec.image}: file not found (give "
                         "the path of a .sif image, or a docker:// URI)")


def fastsurfer_structures(image: np.ndarray, affine: np.ndarray, mask: np.ndarray,
                          spec: FastSurferSpec) -> np.ndarray:
    """FastSurfer segmentation of a T1w image, mapped to ``STRUCTURES`` on the image's grid."""
    check_fastsurfer(spec)
    with tempfile.TemporaryDirectory(prefix="isosr-fastsurfer-") as work:
        input_dir, output_dir = Path(work, "input"), Path(work, "output")
        output_dir.mkdir()
        save_nifti(input_dir / "T1w.nii.gz", np.clip(image, 0.0, 1.0), affine)
        command = fastsurfer_command(spec, input_dir, output_dir, "T1w.nii.gz", "subject",
                                     f"{os.getuid()}:{os.getgid()}")
        log.info("running %s", " ".join(command))
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        log.info("%s", run.stdout)
        result = output_dir / "subject" / FASTSURFER_OUTPUT
        if run.returncode != 0 or not result.is_file():
            tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
            raise InputError(f"FastSurfer ({spec.runtime} image {spec.image}) failed with status "
                             f"{run.returncode}: {tail}")
        aseg = nib.load(str(result))
        on_grid = resample_to_grid(np.asarray(aseg.dataobj), aseg.affine,
                                   Grid(tuple(image.shape), affine), order=0, cval=0.0)
    return np.where(mask, freesurfer_to_structures(np.rint(on_grid)), 0).astype(np.uint8)


def segment_file(image_path: str | Path, mask_path: str | Path, contrast: str,
                 settings: dict[str, Any], out_path: str | Path, sidecar_path: str | Path,
                 truth_sidecar: str | Path | None = None) -> dict[str, Any]:
    """Segment one HR image inside the brain mask; write the label map and its JSON sidecar.

    ``settings`` is the config's ``segmentation`` section (backend, atropos, fastsurfer).
    ``truth_sidecar`` is the sidecar of the subject's ground-truth segmentation when the image is
    a prediction: the ``ants`` back-end labels it with the truth's class model (module docstring);
    without it (the ground truth itself) the model is fitted here and stored in the sidecar.
    """
    image, affine = load_nifti(image_path)
    mask = load_nifti(mask_path)[0] > 0
    if image.shape != mask.shape:
        raise InputError(f"{image_path}: shape {image.shape} differs from the brain mask "
                         f"{mask_path} {mask.shape}")
    backend = settings["backend"]
    names = label_names(backend)
    record: dict[str, Any] = {"backend": backend, "contrast": contrast, "source": str(image_path)}
    if backend == "ants":
        atropos = settings["atropos"]
        if truth_sidecar is None:
            model = ClassModel.from_labels(image, atropos_tissues(
                image, affine, mask, contrast, atropos["mrf"], atropos["iterations"]))
        else:
            model = truth_class_model(truth_sidecar, contrast)
            record["class_model_of"] = str(truth_sidecar)
        labels = classify(image, mask, model, atropos["mrf"], atropos["iterations"])
        record["class_model"] = model.to_json()
    else:
        if contrast != "T1w":
            raise InputError(f"segmentation.contrast: FastSurfer segments T1w images only, "
                             f"not {contrast}")
        spec = FastSurferSpec(**settings["fastsurfer"])
        labels = fastsurfer_structures(image, affine, mask, spec)
    save_nifti(out_path, labels, affine, dtype=np.uint8)
    record.update(labels={str(k): v for k, v in names.items()},
                  voxels={name: int(np.isin(labels, ids).sum())
                          for name, ids in regions(backend).items()})
    save_json(sidecar_path, record)
    return record


def truth_class_model(sidecar: str | Path, contrast: str) -> ClassModel:
    """The class model stored in a ground-truth ``ants`` segmentation sidecar of ``contrast``."""
    record = read_sidecar(sidecar)
    if record["backend"] != "ants" or "class_model" not in record:
        raise InputError(f"{sidecar}: no class model (segmented with backend "
                         f"{record['backend']!r}); segment the ground truth again with ants")
    if record["contrast"] != contrast:
        raise InputError(f"{sidecar}: the ground truth was segmented in {record['contrast']}, "
                         f"not {contrast}")
    try:
        return ClassModel.from_json(record["class_model"])
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{sidecar}: broken class_model ({error!r})") from None


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The JSON sidecar of a segmentation, with a clear error when it is missing or broken."""
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"{path}: not a readable segmentation sidecar ({error})") from error
    if record.get("backend") not in BACKENDS:
        raise InputError(f"{path}: unknown segmentation back-end {record.get('backend')!r}")
    return record
