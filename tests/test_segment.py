"""Segmentation: label conventions, Atropos on a phantom, FastSurfer command and label mapping."""

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from isosr.evaluate import absolute_volume_difference, segmentation_metrics
from isosr.io import InputError, save_json, save_nifti
from isosr.segment import (
    STRUCTURES,
    TISSUES,
    ClassModel,
    FastSurferSpec,
    atropos_tissues,
    check_fastsurfer,
    classify,
    fastsurfer_command,
    fastsurfer_structures,
    freesurfer_to_structures,
    regions,
    segment_file,
)

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
ANTS_SETTINGS = {"backend": "ants", "atropos": {"mrf": 0.1, "iterations": 5}, "fastsurfer": {}}


def phantom(shape=(28, 28, 28)) -> tuple[np.ndarray, np.ndarray]:
    """Nested spheres: WM core, GM shell, CSF shell (labels 3, 2, 1) inside a spherical mask."""
    centre = (np.array(shape) - 1) / 2
    radius = np.linalg.norm(np.indices(shape).T - centre, axis=-1).T
    labels = np.select([radius < 5, radius < 9, radius < 12], [3, 2, 1], 0).astype(np.uint8)
    return labels, labels > 0


def contrast_image(labels: np.ndarray, means: dict[str, float], seed: int = 0) -> np.ndarray:
    """Tissue means per label plus Gaussian noise (sd 0.04)."""
    image = np.zeros(labels.shape, dtype=np.float32)
    for tissue, label in TISSUES.items():
        image[labels == label] = means[tissue]
    return image + np.random.default_rng(seed).normal(0, 0.04, labels.shape).astype(np.float32)


def dice_of(a: np.ndarray, b: np.ndarray, label: int) -> float:
    return 2 * np.sum((a == label) & (b == label)) / (np.sum(a == label) + np.sum(b == label))


@pytest.mark.parametrize("contrast, means", [
    ("T1w", {"CSF": 0.2, "GM": 0.55, "WM": 0.85}),
    ("T2w", {"CSF": 0.9, "GM": 0.5, "WM": 0.3}),
    ("FLAIR", {"CSF": 0.1, "GM": 0.6, "WM": 0.4}),
])
def test_atropos_recovers_the_phantom_classes_in_our_label_order(tmp_path, contrast, means):
    labels, mask = phantom()
    save_nifti(tmp_path / "image.nii.gz", contrast_image(labels, means), AFFINE)
    save_nifti(tmp_path / "mask.nii.gz", mask.astype(np.uint8), AFFINE, dtype=np.uint8)
    record = segment_file(tmp_path / "image.nii.gz", tmp_path / "mask.nii.gz", contrast,
                          ANTS_SETTINGS, tmp_path / "dseg.nii.gz", tmp_path / "dseg.json")
    result = np.asarray(nib.load(tmp_path / "dseg.nii.gz").dataobj)
    assert result.dtype == np.uint8 and np.array_equal(result > 0, mask)
    for tissue, label in TISSUES.items():
        assert dice_of(result, labels, label) > 0.9, tissue
    assert record["labels"] == {"1": "CSF", "2": "GM", "3": "WM"}
    assert record["voxels"]["WM"] == int(np.sum(result == 3))
    assert json.loads((tmp_path / "dseg.json").read_text())["contrast"] == contrast


def test_atropos_is_repeatable_and_rejects_unknown_contrasts_and_empty_masks():
    labels, mask = phantom((20, 20, 20))
    image = contrast_image(labels, {"CSF": 0.2, "GM": 0.55, "WM": 0.85})
    first = atropos_tissues(image, AFFINE, mask, "T1w")
    assert np.array_equal(first, atropos_tissues(image, AFFINE, mask, "T1w"))
    with pytest.raises(InputError, match="segmentation.contrast"):
        atropos_tissues(image, AFFINE, mask, "DWI")
    with pytest.raises(InputError, match="empty"):
        atropos_tissues(image, AFFINE, np.zeros_like(mask), "T1w")


def write_segmentation(folder: Path, name: str, labels: np.ndarray, backend: str = "ants",
                       contrast: str = "T1w") -> Path:
    path = folder / f"{name}_dseg.nii.gz"
    save_nifti(path, labels, AFFINE, dtype=np.uint8)
    save_json(folder / f"{name}_dseg.json", {"backend": backend, "contrast": contrast})
    return path


def test_dice_and_volume_difference_of_known_overlaps(tmp_path):
    truth = np.zeros((10, 10, 10), dtype=np.uint8)
    prediction = np.zeros_like(truth)
    truth[:4] = 1          # CSF: 400 voxels
    prediction[:2] = 1     # 200 voxels, all inside: Dice 2*200/600, AVD 50 %
    truth[4:7] = 2         # GM: 300 voxels
    prediction[2:7] = 2    # 500 voxels, 300 shared: Dice 600/800, AVD 66.67 %
    truth[7:] = 3          # WM: 300 voxels, identical
    prediction[7:] = 3
    rows = segmentation_metrics(write_segmentation(tmp_path, "truth", truth),
                                write_segmentation(tmp_path, "prediction", prediction))
    values = {metric: value for contrast, metric, value in rows}
    assert {contrast for contrast, _, _ in rows} == {"T1w"}
    assert values["Dice_CSF"] == pytest.approx(2 / 3)
    assert values["Dice_GM"] == pytest.approx(0.75)
    assert values["Dice_WM"] == 1.0
    assert values["Dice"] == pytest.approx((2 / 3 + 0.75 + 1.0) / 3)
    assert values["AVD_CSF"] == pytest.approx(50.0)
    assert values["AVD_GM"] == pytest.approx(200 / 3)
    assert values["AVD_WM"] == 0.0
    assert np.isnan(absolute_volume_difference(truth == 1, np.zeros_like(truth, dtype=bool)))


def test_segmentations_from_different_back_ends_are_not_compared(tmp_path):
    labels = np.ones((4, 4, 4), dtype=np.uint8)
    truth = write_segmentation(tmp_path, "truth", labels, backend="ants")
    prediction = write_segmentation(tmp_path, "prediction", labels, backend="fastsurfer")
    with pytest.raises(InputError, match="backend"):
        segmentation_metrics(truth, prediction)


def test_fastsurfer_regions_group_structures_into_tissues():
    assert regions("ants") == {"CSF": (1,), "GM": (2,), "WM": (3,)}
    fastsurfer = regions("fastsurfer")
    assert fastsurfer["CSF"] == (1,)
    assert fastsurfer["GM"] == (2, 4, 7)
    assert fastsurfer["WM"] == (3, 5, 6)
    assert fastsurfer["brain-stem"] == (6,) and fastsurfer["cerebellar-cortex"] == (4,)
    assert list(fastsurfer)[:3] == ["CSF", "GM", "WM"]


def test_freesurfer_labels_map_to_structures():
    aseg = np.array([0, 2, 41, 3, 42, 1035, 2002, 4, 43, 24, 7, 46, 8, 47, 16, 10, 49, 17, 28,
                     62, 9999])
    expected = ["background", "cerebral-WM", "cerebral-WM", "cortical-GM", "cortical-GM",
                "cortical-GM", "cortical-GM", "CSF", "CSF", "CSF", "cerebellar-WM",
                "cerebellar-WM", "cerebellar-cortex", "cerebellar-cortex", "brain-stem",
                "deep-GM", "deep-GM", "deep-GM", "deep-GM", "background", "background"]
    ids = {**STRUCTURES, "background": 0}
    assert freesurfer_to_structures(aseg).tolist() == [ids[name] for name in expected]


def test_fastsurfer_commands_for_docker_and_apptainer():
    docker = fastsurfer_command(FastSurferSpec("docker", "deepmi/fastsurfer:cpu-v2.4.2", "cuda", 4),
                                Path("/w/in"), Path("/w/out"), "T1w.nii.gz", "subject", "1000:100")
    assert docker == ["docker", "run", "--rm", "--user", "1000:100", "--gpus", "all",
                      "-v", "/w/in:/input:ro", "-v", "/w/out:/output",
                      "deepmi/fastsurfer:cpu-v2.4.2", "--t1", "/input/T1w.nii.gz",
                      "--sid", "subject", "--sd", "/output", "--seg_only", "--device", "cuda",
                      "--threads", "4"]
    apptainer = fastsurfer_command(FastSurferSpec("apptainer", "/images/fastsurfer.sif"),
                                   Path("/w/in"), Path("/w/out"), "T1w.nii.gz", "s", "0:0")
    assert apptainer == ["apptainer", "exec", "--cleanenv", "-B", "/w/in:/input:ro",
                         "-B", "/w/out:/output", "/images/fastsurfer.sif",
                         "/fastsurfer/run_fastsurfer.sh", "--t1", "/input/T1w.nii.gz",
                         "--sid", "s", "--sd", "/output", "--seg_only", "--device", "cpu",
                         "--threads", "1"]


def test_fastsurfer_needs_an_image_and_an_installed_runtime(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="fastsurfer.image: not set"):
        check_fastsurfer(FastSurferSpec("apptainer", None))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InputError, match="'apptainer' is not installed"):
        check_fastsurfer(FastSurferSpec("apptainer", "fastsurfer.sif"))


def fake_runtime(folder: Path, name: str, script: str) -> None:
    """An executable ``name`` in ``folder`` running ``script`` with this Python."""
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_fastsurfer_reports_a_missing_sif_image(tmp_path, monkeypatch):
    fake_runtime(tmp_path / "bin", "apptainer", "")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(InputError, match="missing.sif: file not found"):
        check_fastsurfer(FastSurferSpec("apptainer", str(tmp_path / "missing.sif")))


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client installed")
def test_fastsurfer_reports_an_unavailable_docker_image():
    with pytest.raises(InputError, match="docker image 'isosr-test/no-such-image:0' is not"):
        check_fastsurfer(FastSurferSpec("docker", "isosr-test/no-such-image:0"))


# A stand-in container: writes a conformed-space (1 mm, LIA like FastSurfer's orig.mgz)
# aparc+aseg with cerebral WM (2) in one half of the box and cortex parcels (1028) in the other.
FAKE_FASTSURFER = """
import sys
from pathlib import Path
import nibabel as nib
import numpy as np
args = sys.argv[1:]
output = next(a.split(":")[0] for a in args if a.endswith(":/output"))
sid = args[args.index("--sid") + 1]
aseg = np.zeros((40, 40, 40), dtype=np.int32)
aseg[:20] = 2
aseg[20:] = 1028
affine = np.array([[-1, 0, 0, 20.0], [0, 0, 1, -20.0], [0, -1, 0, 20.0], [0, 0, 0, 1]])
folder = Path(output, sid, "mri")
folder.mkdir(parents=True)
nib.save(nib.MGHImage(aseg, affine), str(folder / "aparc.DKTatlas+aseg.deep.mgz"))
"""


def test_fastsurfer_output_is_resampled_and_mapped_onto_the_image_grid(tmp_path, monkeypatch):
    fake_runtime(tmp_path / "bin", "apptainer", FAKE_FASTSURFER)
    (tmp_path / "fastsurfer.sif").write_bytes(b"")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    affine = np.array([[2.0, 0, 0, -15], [0, 2, 0, -15], [0, 0, 2, -15], [0, 0, 0, 1]])
    mask = np.ones((16, 16, 16), dtype=bool)
    mask[0] = False
    labels = fastsurfer_structures(np.zeros((16, 16, 16), np.float32), affine, mask,
                                   FastSurferSpec("apptainer", str(tmp_path / "fastsurfer.sif")))
    # conformed voxel i lies at world x = 20 - i: i < 20 (WM) is x > 0, the right half
    x = affine[0, 0] * np.arange(16) + affine[0, 3]
    assert (labels[0] == 0).all()
    assert (labels[1:][x[1:] > 0.5] == STRUCTURES["cerebral-WM"]).all()
    assert (labels[1:][x[1:] < -0.5] == STRUCTURES["cortical-GM"]).all()


def test_fastsurfer_segments_t1w_only(tmp_path):
    labels, mask = phantom((8, 8, 8))
    save_nifti(tmp_path / "image.nii.gz", labels.astype(np.float32), AFFINE)
    save_nifti(tmp_path / "mask.nii.gz", mask.astype(np.uint8), AFFINE)
    settings = {**ANTS_SETTINGS, "backend": "fastsurfer", "fastsurfer": {"image": "x.sif"}}
    with pytest.raises(InputError, match="T1w images only"):
        segment_file(tmp_path / "image.nii.gz", tmp_path / "mask.nii.gz", "T2w", settings,
                     tmp_path / "dseg.nii.gz", tmp_path / "dseg.json")


def validated_default_config(**sections) -> dict:
    """The default config.yaml with ``sections`` replaced, validated (defaults filled in)."""
    import yaml
    from conftest import REPO
    from snakemake.utils import validate

    config = {**yaml.safe_load((REPO / "config.yaml").read_text()), **sections}
    validate(config, schema=str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return config


def test_segmentation_contrast_defaults_to_t1w_and_falls_back_by_preference():
    from isosr.config import Plan

    scenarios = {"t1-t2": {"contrasts": {"T1w": {"view": "axial", "thickness": 4},
                                         "T2w": {"view": "coronal", "thickness": 4}}},
                 "flair-t2": {"contrasts": {"FLAIR": {"view": "axial", "thickness": 4},
                                            "T2w": {"view": "coronal", "thickness": 4}}}}
    config = validated_default_config(scenarios=scenarios)
    assert config["segmentation"] == {"backend": "ants", "contrast": "T1w",
                                      "atropos": {"mrf": 0.1, "iterations": 5},
                                      "fastsurfer": {"runtime": "apptainer", "image": None,
                                                     "device": "cpu", "threads": 1}}
    plan = Plan(config)
    assert plan.segmentation_contrast("t1-t2") == "T1w"
    assert plan.segmentation_contrast("flair-t2") == "T2w"
    flair = Plan(validated_default_config(scenarios=scenarios,
                                          segmentation={"contrast": "FLAIR"}))
    assert flair.segmentation_contrast("t1-t2") == "T1w"
    assert flair.segmentation_contrast("flair-t2") == "FLAIR"


def test_fastsurfer_backend_needs_t1w_in_every_scenario():
    from isosr.config import ConfigError, Plan

    scenarios = {"flair-t2": {"contrasts": {"FLAIR": {"view": "axial", "thickness": 4},
                                            "T2w": {"view": "coronal", "thickness": 4}}}}
    config = validated_default_config(scenarios=scenarios,
                                      segmentation={"backend": "fastsurfer"})
    with pytest.raises(ConfigError, match="scenarios.flair-t2 does not acquire T1w"):
        Plan(config)


def test_a_mildly_blurred_truth_keeps_its_tissue_volumes(tmp_path):
    """On the ICBM152 anatomy at 2 mm, a 0.5-voxel Gaussian blur of the truth, labelled with the
    truth's class model, keeps Dice > 0.95 and |AVD| < 5 % per tissue; Atropos re-estimating its
    classes on the blurred image grows CSF by more than 5 %."""
    from scipy import ndimage

    from isosr.data.embedded import template_maps

    maps, affine = template_maps(2.0)
    mask = (maps["GM"] + maps["WM"] + maps["CSF"]) > 0.5
    truth = maps["T1w"] + np.random.default_rng(0).normal(0.0, 0.02, mask.shape)
    save_nifti(tmp_path / "mask.nii.gz", mask.astype(np.uint8), affine, dtype=np.uint8)
    for name, image in (("truth", truth), ("blurred", ndimage.gaussian_filter(truth, 0.5))):
        save_nifti(tmp_path / f"{name}.nii.gz", image.astype(np.float32), affine)
    segment_file(tmp_path / "truth.nii.gz", tmp_path / "mask.nii.gz", "T1w", ANTS_SETTINGS,
                 tmp_path / "truth_dseg.nii.gz", tmp_path / "truth_dseg.json")
    record = segment_file(tmp_path / "blurred.nii.gz", tmp_path / "mask.nii.gz", "T1w",
                          ANTS_SETTINGS, tmp_path / "blurred_dseg.nii.gz",
                          tmp_path / "blurred_dseg.json",
                          truth_sidecar=tmp_path / "truth_dseg.json")
    truth_record = json.loads((tmp_path / "truth_dseg.json").read_text())
    assert record["class_model"] == truth_record["class_model"]
    values = {metric: value for _, metric, value in segmentation_metrics(
        tmp_path / "truth_dseg.nii.gz", tmp_path / "blurred_dseg.nii.gz")}
    for tissue in TISSUES:
        assert values[f"Dice_{tissue}"] > 0.95, (tissue, values)
        assert values[f"AVD_{tissue}"] < 5.0, (tissue, values)
    refitted = atropos_tissues(ndimage.gaussian_filter(truth, 0.5), affine, mask, "T1w")
    atropos_truth = atropos_tissues(truth, affine, mask, "T1w")
    csf = TISSUES["CSF"]
    assert absolute_volume_difference(refitted == csf, atropos_truth == csf) > 5.0


def test_the_class_model_is_fixed_by_the_truth():
    """A prediction is labelled by the truth's intensities: the truth itself maps onto its own
    labels, and a prediction whose WM is as dark as the truth's GM loses its WM."""
    labels, mask = phantom()
    truth = contrast_image(labels, {"CSF": 0.2, "GM": 0.55, "WM": 0.85})
    model = ClassModel.from_labels(truth, labels)
    assert model.means == pytest.approx((0.2, 0.55, 0.85), abs=0.01)
    assert model.stds == pytest.approx((0.04, 0.04, 0.04), abs=0.005)
    assert sum(model.shares) == pytest.approx(1.0)
    assert ClassModel.from_json(json.loads(json.dumps(model.to_json()))) == model
    assert dice_of(classify(truth, mask, model), labels, TISSUES["WM"]) > 0.99
    darker = contrast_image(labels, {"CSF": 0.2, "GM": 0.55, "WM": 0.55}, seed=1)
    assert np.sum(classify(darker, mask, model) == TISSUES["WM"]) < 0.01 * np.sum(labels == 3)
    with pytest.raises(InputError, match="empty"):
        classify(truth, np.zeros_like(mask), model)


def test_a_prediction_needs_the_truth_class_model_of_its_contrast(tmp_path):
    labels, mask = phantom((16, 16, 16))
    image = contrast_image(labels, {"CSF": 0.2, "GM": 0.55, "WM": 0.85})
    save_nifti(tmp_path / "image.nii.gz", image, AFFINE)
    save_nifti(tmp_path / "mask.nii.gz", mask.astype(np.uint8), AFFINE, dtype=np.uint8)
    truth = tmp_path / "truth_dseg.json"
    segment_file(tmp_path / "image.nii.gz", tmp_path / "mask.nii.gz", "T1w", ANTS_SETTINGS,
                 tmp_path / "truth_dseg.nii.gz", truth)
    with pytest.raises(InputError, match="segmented in T1w, not T2w"):
        segment_file(tmp_path / "image.nii.gz", tmp_path / "mask.nii.gz", "T2w", ANTS_SETTINGS,
                     tmp_path / "p.nii.gz", tmp_path / "p.json", truth_sidecar=truth)
    save_json(truth, {"backend": "fastsurfer", "contrast": "T1w"})
    with pytest.raises(InputError, match="no class model"):
        segment_file(tmp_path / "image.nii.gz", tmp_path / "mask.nii.gz", "T1w", ANTS_SETTINGS,
                     tmp_path / "p.nii.gz", tmp_path / "p.json", truth_sidecar=truth)
