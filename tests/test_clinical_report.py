"""The session's HTML report: one self-contained file with every section, one embedded PNG per
figure the inputs imply, the methods ranked by mean DC PSNR and the registration's numbers; a
missing output is refused naming the file."""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from scipy import ndimage
from scipy.spatial.transform import Rotation

from isosr.clinical.report import write_report
from isosr.io import InputError, save_nifti

SHAPE = (40, 40, 40)
HR_AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
HR_AFFINE[:3, 3] = -39.0  # the grid centred on the world origin
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STACKS = {"T1w": ("axial", 2), "T2w": ("coronal", 1)}  # view, array axis subsampled by 2
REGISTRATION = {"mi_before": 0.412, "mi_after": 0.687, "rotation_degrees": 4.87,
                "translation_mm": 1.23, "shift_at_brain_centre_mm": 3.21,
                "coverage_of_mask": 0.98}


def rotated(affine: np.ndarray, degrees: float) -> np.ndarray:
    """``affine`` rotated about the world origin around a tilted axis."""
    rotation = np.eye(4)
    rotation[:3, :3] = Rotation.from_rotvec(np.deg2rad(degrees) * np.array([0.6, 0.0, 0.8])
                                            ).as_matrix()
    return rotation @ affine


class Page(HTMLParser):
    """Headings, image sources and the score table's rows of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.images: list[str] = []
        self.score_rows: list[list[str]] = []
        self.sections: dict[str, str] = {}
        self._open: list[str] = []
        self._section = ""
        self._in_scores = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "img":
            self.images.append(attributes["src"] or "")
        if tag == "section":
            self._section = attributes["id"] or ""
        if tag == "table":
            self._in_scores = attributes.get("id") == "score-table"
        if tag == "tr" and self._in_scores:
            self.score_rows.append([])
        self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] == "h2":
            self.headings.append(data)
        if self._open and self._open[-1] == "td" and self._in_scores:
            self.score_rows[-1].append(data)
        if self._section:
            self.sections[self._section] = self.sections.get(self._section, "") + data


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A 40^3 2 mm session: a ball brain, an axial and a (rotated) coronal 4 mm stack, two
    methods' outputs and signed error maps, their scores and the alignment record."""
    root = tmp_path_factory.mktemp("session")
    rng = np.random.default_rng(0)
    radius = np.sqrt(((np.indices(SHAPE) - 19.5) ** 2).sum(axis=0))
    mask = radius < 14
    texture = ndimage.gaussian_filter(rng.normal(size=SHAPE), 2.0)
    t1 = np.where(mask, 0.6 + 0.3 * (radius < 7) + 2.0 * texture, 0.05).astype(np.float32)
    truth = {"T1w": t1, "T2w": (1.0 - t1) * mask}
    save_nifti(root / "mask.nii.gz", mask.astype(np.uint8), HR_AFFINE, dtype=np.uint8)
    stacks, contrasts, grids = {}, {}, {}
    for contrast, (view, axis) in STACKS.items():
        step = np.eye(4)
        step[axis, axis] = 2.0
        affine = original = HR_AFFINE @ step
        if contrast == "T2w":  # acquired 8 degrees off, realigned to 3 degrees off (oblique)
            affine, original = rotated(affine, 3.0), rotated(affine, 8.0)
        data = np.take(truth[contrast], range(0, SHAPE[axis], 2), axis=axis)
        stacks[contrast] = root / f"{contrast}_stack.nii.gz"
        save_nifti(stacks[contrast], data, affine)
        grids[contrast] = (data.shape, affine)
        contrasts[contrast] = {
            "acquisition": {"file": f"/raw/sub-01/anat/sub-01_{contrast}.nii.gz",
                            "kind": "2D stack", "view": view, "in_plane_spacing_mm": [2.0, 2.0],
                            "slice_spacing_mm": 4.0, "slice_thickness_mm": 4.0,
                            "thickness_source": "affine"},
            "original_affine": original.tolist(), "affine": affine.tolist(),
            "registration": None if contrast == "T1w" else REGISTRATION}
    outputs, maps, scores = {}, {}, {}
    # listed worst first: the report must rank them
    for method, (blur, psnr) in {"blurry": (2.0, 24.0), "sharp": (0.5, 33.0)}.items():
        outputs[method], maps[method] = {}, {}
        for contrast, (shape, affine) in grids.items():
            outputs[method][contrast] = root / f"{method}_{contrast}.nii.gz"
            save_nifti(outputs[method][contrast], ndimage.gaussian_filter(truth[contrast], blur),
                       HR_AFFINE)
            maps[method][contrast] = root / f"{method}_{contrast}_dcmap.nii.gz"
            save_nifti(maps[method][contrast], blur * 0.05 * rng.normal(size=shape), affine)
        scores[method] = {"contrasts": {c: {"psnr_db": psnr + i, "ssim": 0.5 + psnr / 100}
                                        for i, c in enumerate(STACKS)},
                          "mi": {"T1w-T2w": 0.3 + psnr / 100}}
    return {"root": root, "stacks": stacks, "outputs": outputs, "maps": maps, "scores": scores,
            "alignment": {"reference_contrast": "T1w", "resolution_mm": 2.0,
                          "contrasts": contrasts,
                          "notes": ["T1w: sub-01_T1w.nii.gz is axial 2D stack",
                                    "T2w: sub-01_T2w.nii.gz is coronal 2D stack"]}}


def report(session: dict, path: Path, outputs: dict | None = None) -> None:
    write_report(path, title="sub-01 ses-01", reference_contrast="T1w",
                 stacks=session["stacks"], mask_path=session["root"] / "mask.nii.gz",
                 outputs=outputs or session["outputs"], error_maps=session["maps"],
                 scores=session["scores"], alignment=session["alignment"])


def test_the_report_is_one_html_file_with_every_section_and_figure(session, tmp_path):
    path = tmp_path / "sub-01_ses-01.html"
    report(session, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no partial file left
    page = Page()
    page.feed(path.read_text())
    page.close()
    assert page.headings == ["Summary", "Registration", "Acquired stacks", "Method: sharp",
                             "Method: blurry", "Scores"]
    # one registration figure per moving contrast, one of the stacks, one per method and contrast
    contrasts, methods = len(session["stacks"]), len(session["outputs"])
    assert len(page.images) == (contrasts - 1) + 1 + methods * contrasts
    for source in page.images:  # embedded, so readable offline
        assert source.startswith("data:image/png;base64,")
        png = base64.b64decode(source.removeprefix("data:image/png;base64,"), validate=True)
        assert png.startswith(PNG_SIGNATURE)
        height, width, _ = imread(io.BytesIO(png), format="png").shape
        assert height > 150 and width > 400
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", path.read_text())
    _, *rows = page.score_rows  # the header row has no <td>
    assert [row[:2] for row in rows] == [["1", "sharp"], ["2", "blurry"]]
    assert rows[0][2] == "33.50"  # mean DC PSNR
    registration = page.sections["registration"]
    for number in ("0.412", "0.687", "4.87", "1.23", "3.21", "98%"):
        assert number in registration
    assert "sub-01_T2w.nii.gz" in page.sections["summary"]


def test_a_missing_output_is_refused_naming_it(session, tmp_path):
    missing = tmp_path / "absent_T2w.nii.gz"
    outputs = {**session["outputs"], "sharp": {**session["outputs"]["sharp"], "T2w": missing}}
    path = tmp_path / "report.html"
    with pytest.raises(InputError, match=re.escape(str(missing))):
        report(session, path, outputs)
    assert not path.exists()
