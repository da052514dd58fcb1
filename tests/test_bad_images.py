"""Only what isosr supports goes in, and only what it says comes out: single-file NIfTI-1/NIfTI-2
images named .nii or .nii.gz with real-valued data are read (anything else is refused by name,
before its data are read), every image is written in the format its name says, finite, and a
view is refused on an HR grid too oblique to say which array axis it slices along. Each bad CLI
case ends in one line naming the file or option, with a non-zero exit, and changes nothing."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from test_bad_inputs import assert_one_line_error, cli, digest

from isosr.io import MAX_GRID_VOXELS, InputError, OutputError, load_nifti, save_nifti
from isosr.simulate import Acquisition, simulate_lr

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
GZIP_MAGIC = b"\x1f\x8b"


def rotation_z(degrees: float) -> np.ndarray:
    """AFFINE turned by ``degrees`` about world z (array axes 0 and 1 between x and y)."""
    angle = np.radians(degrees)
    turn = np.eye(4)
    turn[:2, :2] = [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    return turn @ AFFINE


def header_only(path: Path, shape: tuple[int, ...], data: bytes, compress: bool = False) -> None:
    """A NIfTI-1 header claiming ``shape`` float32 voxels, followed by just ``data``."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    header.set_data_offset(352)
    with (gzip.open(path, "wb") if compress else path.open("wb")) as stream:
        stream.write(header.binaryblock + b"\0" * 4 + data)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """An HR scan and files that are not what isosr reads, each under a telling name."""
    z = np.indices((16, 18, 20))
    hr = (0.5 + 0.4 * np.sin(z[0] / 3.0) * np.cos(z[2] / 4.0)).astype(np.float32)
    save_nifti(tmp_path / "t1.nii.gz", hr, AFFINE)
    save_nifti(tmp_path / "mask.nii.gz", np.ones(hr.shape, np.uint8), AFFINE, dtype=np.uint8)
    save_nifti(tmp_path / "earlier.nii.gz", hr[:, :, ::3], AFFINE @ np.diag([1, 1, 3, 1]))
    (tmp_path / "earlier.tsv").write_text("an earlier result\n")
    # other formats nibabel reads, with their own orientation conventions
    nib.save(nib.MGHImage(hr, AFFINE), str(tmp_path / "t1.mgz"))
    nib.save(nib.AnalyzeImage(hr, AFFINE), str(tmp_path / "t1.img"))  # and t1.hdr
    nib.save(nib.Nifti1Pair(hr, AFFINE), str(tmp_path / "pair.img"))
    shutil.copy(tmp_path / "pair.hdr", tmp_path / "pair_header.nii")  # ni1: half of a pair
    nib.save(nib.AnalyzeImage(hr, AFFINE), str(tmp_path / "analyze.hdr"))
    analyze = (tmp_path / "analyze.hdr").read_bytes() + (tmp_path / "analyze.img").read_bytes()
    (tmp_path / "analyze.nii").write_bytes(analyze)
    (tmp_path / "notes.txt").write_text("not an image\n")
    # data types that are not one real number per voxel
    nib.save(nib.Nifti1Image(hr + 1j * hr, AFFINE), str(tmp_path / "complex.nii.gz"))
    rgb = np.zeros(hr.shape, dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    nib.save(nib.Nifti1Image(rgb, AFFINE), str(tmp_path / "rgb.nii.gz"))
    # compression that does not match the name
    shutil.copy(tmp_path / "t1.nii.gz", tmp_path / "gzipped.nii")
    (tmp_path / "plain.nii.gz").write_bytes(gzip.decompress((tmp_path / "t1.nii.gz").read_bytes()))
    # headers that claim more than there is
    header_only(tmp_path / "huge.nii.gz", (32000, 32000, 32000), b"\0" * 64, compress=True)
    plain = gzip.decompress((tmp_path / "t1.nii.gz").read_bytes())
    (tmp_path / "truncated.nii").write_bytes(plain[:-100])
    (tmp_path / "truncated.nii.gz").write_bytes(gzip.compress(plain[:-100]))
    (tmp_path / "cut.nii.gz").write_bytes((tmp_path / "t1.nii.gz").read_bytes()[:-200])
    # finite, but beyond float32 once the noise is added
    save_nifti(tmp_path / "bright.nii.gz", hr * 3e38, AFFINE)
    # an HR grid turned 45 degrees between world x and y: coronal and sagittal are ambiguous
    save_nifti(tmp_path / "oblique.nii.gz", hr, rotation_z(45.0))
    return tmp_path


def simulate(hr: str, out: str = "{d}/out.nii.gz", *options: str) -> list[str]:
    return ["simulate", "--hr", f"{{d}}/{hr}", "--view", "axial", "--thickness", "6", *options,
            "--out", out]


# (arguments with {d} for the images folder, fragments the one-line message must contain)
CLI_CASES = {
    # formats: only single-file NIfTI-1/NIfTI-2 named .nii or .nii.gz
    "MGH": (simulate("t1.mgz"), ["t1.mgz: a FreeSurfer MGH image, not a NIfTI image",
                                 ".nii or .nii.gz"]),
    "Analyze pair": (simulate("t1.hdr"), ["t1.hdr: an Analyze or NIfTI header/image pair"]),
    "text file": (simulate("notes.txt"), ["notes.txt: a '.txt' file, not a NIfTI image"]),
    "NIfTI pair header named .nii": (simulate("pair_header.nii"),
                                     ["pair_header.nii: the header of a NIfTI-1 header/image "
                                      "pair"]),
    "Analyze named .nii": (simulate("analyze.nii"), ["analyze.nii: not a NIfTI image",
                                                     "Analyze 7.5 header"]),
    "complex data": (simulate("complex.nii.gz"),
                     ["complex.nii.gz: data type complex64 is not supported"]),
    "RGB data": (["fit", "--method", "cubic", "--lr", "T1w={d}/rgb.nii.gz", "--mask",
                  "{d}/mask.nii.gz", "--out-dir", "{d}/sr"],
                 ["rgb.nii.gz: data type RGB is not supported"]),
    "gzip bytes named .nii": (simulate("gzipped.nii"),
                              ["gzipped.nii: named .nii but gzip-compressed",
                               "rename it to gzipped.nii.gz"]),
    "plain bytes named .nii.gz": (["evaluate", "--truth", "T1w={d}/t1.nii.gz", "--prediction",
                                   "T1w={d}/plain.nii.gz", "--mask", "{d}/mask.nii.gz", "--out",
                                   "{d}/m.tsv"],
                                  ["plain.nii.gz: named .nii.gz but not gzip-compressed",
                                   "rename it to plain.nii"]),
    # headers that claim more than isosr reads or than the file holds
    "32000^3 voxels": (simulate("huge.nii.gz"),
                       ["huge.nii.gz: its header gives 32000x32000x32000 = 3.28e+13 voxels",
                        "GiB per float32 image", f"above the limit of {MAX_GRID_VOXELS:.3g}"]),
    "truncated .nii": (simulate("truncated.nii"),
                       ["truncated.nii: truncated: its header describes 23392 bytes",
                        "16x18x20 voxels of float32 from byte 352", "the file has 23292"]),
    "truncated .nii.gz": (simulate("truncated.nii.gz"),
                          ["truncated.nii.gz: truncated", "the decompressed file has 23292"]),
    "cut gzip stream": (simulate("cut.nii.gz"), ["cut.nii.gz: truncated or damaged gzip data"]),
    # outputs: the name says the format
    "simulate --out .txt": (simulate("t1.nii.gz", "{d}/out.txt"),
                            ["--out", "out.txt: expected a name ending in .nii or .nii.gz"]),
    "simulate --out .mgz": (simulate("t1.nii.gz", "{d}/out.mgz"), ["out.mgz: expected a name"]),
    "evaluate --out .csv": (["evaluate", "--truth", "T1w={d}/t1.nii.gz", "--prediction",
                             "T1w={d}/t1.nii.gz", "--mask", "{d}/mask.nii.gz", "--out",
                             "{d}/m.csv"], ["--out", "m.csv: expected a name ending in .tsv"]),
    "simulate --out .txt over an earlier file": (simulate("t1.nii.gz", "{d}/earlier.tsv",
                                                          "--overwrite"),
                                                 ["earlier.tsv: expected a name ending in .nii"]),
    # outputs: finite
    "--noise 1e300": (simulate("t1.nii.gz", "{d}/out.nii.gz", "--noise", "1e300"),
                      ["--noise 1e+300: above the largest intensity of", "t1.nii.gz (0.898)"]),
    "noise beyond float32 on bright data": (simulate("bright.nii.gz", "{d}/out.nii.gz",
                                                     "--noise", "1e38"),
                                            ["bright.nii.gz: the simulated LR stack has",
                                             "not finite in float32", "lower the noise (1e+38)"]),
    # views: one array axis clearly closest to the view's world axis
    "coronal on a 45-degree grid": (["simulate", "--hr", "{d}/oblique.nii.gz", "--view",
                                     "coronal", "--thickness", "6", "--out", "{d}/out.nii.gz"],
                                    ["oblique.nii.gz: the coronal view slices along world axis y",
                                     "45.0, 45.0, 90.0 degrees from array axes 0, 1, 2",
                                     "none is within 30 degrees"]),
    "sagittal on a 45-degree grid": (["simulate", "--hr", "{d}/oblique.nii.gz", "--view",
                                      "sagittal", "--thickness", "6", "--out", "{d}/out.nii.gz"],
                                     ["oblique.nii.gz: the sagittal view slices along world "
                                      "axis x", "45.0, 45.0, 90.0 degrees"]),
}


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_cli_bad_image_is_one_line_and_changes_nothing(images, capsys, case):
    arguments, names = CLI_CASES[case]
    before = digest(images)
    status, err = cli([a.replace("{d}", str(images)) for a in arguments], capsys)
    assert_one_line_error(status, err, *names)
    assert digest(images) == before  # inputs and the earlier results intact, nothing added


def test_nifti2_and_upper_case_names_are_read(images):
    hr, affine = load_nifti(images / "t1.nii.gz")
    nib.save(nib.Nifti2Image(hr, affine), str(images / "t1_nifti2.nii"))
    shutil.copy(images / "t1.nii.gz", images / "T1.NII.GZ")
    for name in ("t1_nifti2.nii", "T1.NII.GZ"):
        data, loaded = load_nifti(images / name)
        np.testing.assert_array_equal(data, hr)
        np.testing.assert_allclose(loaded, affine)


def test_the_header_is_checked_before_the_data_are_read(tmp_path, monkeypatch):
    """A huge header is refused without allocating its data (nibabel's array is never built)."""
    header_only(tmp_path / "huge.nii", (2**10, 2**10, 2**9), b"")
    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "__array__",
                        lambda *a, **k: pytest.fail("the data were read"))
    with pytest.raises(InputError, match=r"huge.nii: its header gives 1024x1024x512 = 5.37e\+08 "
                                         r"voxels \(2 GiB per float32 image\)"):
        load_nifti(tmp_path / "huge.nii")


def test_save_nifti_writes_the_format_its_name_says(tmp_path):
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    save_nifti(tmp_path / "plain.nii", data, AFFINE)
    save_nifti(tmp_path / "packed.nii.gz", data, AFFINE)
    assert (tmp_path / "plain.nii").read_bytes()[:4] == (348).to_bytes(4, "little")
    assert (tmp_path / "packed.nii.gz").read_bytes()[:2] == GZIP_MAGIC
    for name in ("plain.nii", "packed.nii.gz"):
        np.testing.assert_array_equal(load_nifti(tmp_path / name)[0], data)
    for name in ("x.txt", "x.nii.bz2", "x.mgz", "x"):
        with pytest.raises(InputError, match=f"{name}: .*named .nii or .nii.gz"):
            save_nifti(tmp_path / name, data, AFFINE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["packed.nii.gz", "plain.nii"]


@pytest.mark.parametrize("value, expected", [
    (np.nan, "bad.nii.gz: 3 of 24 voxels are NaN or infinite; not written"),
    (np.inf, "bad.nii.gz: 3 of 24 voxels are NaN or infinite; not written"),
    (1e300, r"bad.nii.gz: 3 of 24 voxels are NaN or infinite, 3 of them beyond the range of "
            r"float32 \(\+-3.4e\+38\); not written"),
])
def test_save_nifti_refuses_data_that_are_not_finite_in_float32(tmp_path, value, expected):
    data = np.zeros((2, 3, 4))
    data[0, 0, :3] = value
    with pytest.raises(OutputError, match=expected):
        save_nifti(tmp_path / "bad.nii.gz", data, AFFINE)
    assert list(tmp_path.iterdir()) == []


def test_simulate_out_nii_is_plain_and_read_by_fit(images, capsys):
    status, err = cli(["simulate", "--hr", str(images / "t1.nii.gz"), "--view", "axial",
                       "--thickness", "6", "--out", str(images / "lr.nii")], capsys)
    assert status == 0, err
    assert (images / "lr.nii").read_bytes()[:2] != GZIP_MAGIC
    assert load_nifti(images / "lr.nii")[0].shape == (16, 18, 6)
    status, err = cli(["fit", "--method", "cubic", "--lr", f"T1w={images / 'lr.nii'}", "--mask",
                       str(images / "mask.nii.gz"), "--out-dir", str(images / "sr")], capsys)
    assert status == 0, err
    assert not [p for p in images.iterdir() if p.name.startswith(".")]  # no partial files


def test_simulation_beyond_float32_is_refused_not_written_as_inf():
    hr = np.zeros((8, 8, 16), np.float32)
    hr[..., 8:] = 3.3e38  # a step: the cubic spline overshoots it beyond float32
    with pytest.raises(InputError, match="voxels that are not finite in float32"):
        simulate_lr(hr, np.eye(4), Acquisition("axial", 2.0, "spline"))


@pytest.mark.parametrize("degrees, refused", [(0.0, False), (29.9, False), (30.0, False),
                                              (30.5, True), (45.0, True), (60.0, False)])
def test_a_view_needs_an_array_axis_within_30_degrees(degrees, refused):
    """Up to 30 degrees every other axis is at least 60 degrees off; at 60 degrees array axis 0
    is 30 degrees from world y."""
    hr = np.random.default_rng(0).random((12, 12, 8))
    for view in ("sagittal", "coronal"):
        acquisition = Acquisition(view, 4.0, "spline")
        if refused:
            with pytest.raises(InputError, match=f"the {view} view .* none is within 30"):
                simulate_lr(hr, rotation_z(degrees), acquisition)
        else:
            simulate_lr(hr, rotation_z(degrees), acquisition)
    simulate_lr(hr, rotation_z(degrees), Acquisition("axial", 4.0, "spline"))  # z is untouched
