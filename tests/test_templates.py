"""Registration templates: MNI152 from nilearn, SRI24 fetched once with its checksum."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import replace

import nibabel as nib
import numpy as np
import pytest
from http_server import Site, serve

from isosr.data.templates import (
    SRI24_ARCHIVE,
    downloaded_template,
    fetch_sri24,
    field_of_view_mm,
    mni152_file,
    template_file,
)
from isosr.io import InputError, load_nifti

AFFINE = np.array([[-1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])  # SRI24's header


def sri24_zip(with_t1w: bool = True) -> bytes:
    """An archive laid out like sri24_anatomy_nifti.zip (4D 'spgr.nii', as in the real one)."""
    image = nib.Nifti1Image(np.arange(8 * 8 * 6, dtype=np.float32).reshape(8, 8, 6, 1), AFFINE)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("sri24/LICENSE", "CC BY-SA 3.0")
        archive.writestr("sri24/spgr.nii" if with_t1w else "sri24/late.nii", image.to_bytes())
    return buffer.getvalue()


@pytest.fixture()
def site():
    with serve(Site(files={"sri24.zip": sri24_zip(), "broken.zip": sri24_zip(False)})) as running:
        yield running


def test_mni152_ships_with_nilearn():
    assert template_file("MNI152") == mni152_file("T1w")
    assert field_of_view_mm("MNI152") == (197.0, 233.0, 189.0)
    with pytest.raises(InputError, match="unknown template 'MNI305'"):
        template_file("MNI152".replace("152", "305"))


def test_sri24_is_fetched_verified_and_squeezed_to_3d(site, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="not downloaded yet"):
        template_file("SRI24")
    payload = site.files["sri24.zip"]
    source = replace(SRI24_ARCHIVE, url=site.url("sri24.zip"),
                     sha256=hashlib.sha256(payload).hexdigest())
    fetch_sri24(downloaded_template("SRI24"), tmp_path / "downloads", source=source)
    data, affine = load_nifti(template_file("SRI24"))
    assert data.shape == (8, 8, 6) and data[1, 2, 3] == 1 * 48 + 2 * 6 + 3
    np.testing.assert_allclose(affine, AFFINE)
    assert field_of_view_mm("SRI24") == (240.0, 240.0, 155.0)  # the real atlas, before download


def test_sri24_with_the_wrong_checksum_is_not_installed(site, tmp_path):
    out = tmp_path / "SRI24_T1w.nii.gz"
    with pytest.raises(InputError) as error:
        fetch_sri24(out, tmp_path, source=replace(SRI24_ARCHIVE, url=site.url("sri24.zip")))
    assert SRI24_ARCHIVE.sha256 in str(error.value)
    assert hashlib.sha256(site.files["sri24.zip"]).hexdigest() in str(error.value)
    assert not out.exists()
    with pytest.raises(InputError, match="has no spgr.nii"):
        fetch_sri24(out, tmp_path, source=replace(SRI24_ARCHIVE, url=site.url("broken.zip"),
                                                  sha256=None))
    assert not out.exists()

