"""Dataset sources: the http source with IXI's real naming scheme served on 127.0.0.1, the
manual presets (BraTS, MSSEG, HCP), presets and config handling, and the fetch rules end to end."""

from __future__ import annotations

import gzip
import io
import json
import logging
import tarfile
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml
from conftest import REPO, run_snakemake
from http_server import Site, serve

from isosr.config import ConfigError, Plan
from isosr.data.download import download
from isosr.data.embedded import EmbeddedOptions, synthesise
from isosr.data.http import HttpSource, extract_scan, read_index
from isosr.data.layout import index_path, raw_scan_path
from isosr.data.manual import ManualSource
from isosr.data.presets import load_preset, preset_names
from isosr.io import InputError, load_nifti

OPTIONS = EmbeddedOptions(subjects=3, resolution_mm=6.0)
# IXI members as the real archives name them; IXI013 has no T2w (as some real subjects lack one).
IXI = {"IXI002-Guys-0828": "01", "IXI012-HH-1211": "02", "IXI013-HH-1212": "03"}
IXI_CONTRASTS = {"T1": "T1w", "T2": "T2w", "PD": "PDw"}


def nifti_gz(data: np.ndarray, affine: np.ndarray) -> bytes:
    return gzip.compress(nib.Nifti1Image(data, affine).to_bytes())


def ixi_tar(suffix: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for prefix, subject in IXI.items():
            if suffix == "T2" and prefix.startswith("IXI013"):
                continue
            payload = nifti_gz(*synthesise(subject, IXI_CONTRASTS[suffix], OPTIONS))
            info = tarfile.TarInfo(f"{prefix}-{suffix}.nii.gz")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def ixi_site():
    files = {f"IXI/IXI-{s}.tar": ixi_tar(s) for s in IXI_CONTRASTS}
    with serve(Site(files=files)) as site:
        yield site


def local_ixi_block(site: Site) -> dict:
    """The IXI preset with its URLs pointing at the local server (md5s are the real ones)."""
    files = [{"url": site.url(f"IXI/{Path(f['url']).name}"), "members": f["members"]}
             for f in load_preset("ixi")["files"]]
    return {"preset": "ixi", "files": files}


def dataset_config(datasets: dict) -> dict:
    return {"seed": 0, "reference_method": "cubic", "datasets": datasets,
            "scenarios": {"s": {"contrasts": {"T1w": {"view": "axial", "thickness": 4.0},
                                              "T2w": {"view": "coronal", "thickness": 4.0}}}},
            "methods": {"cubic": {}}}


def test_ixi_preset_names_the_public_archives():
    preset = load_preset("ixi")
    urls = [f["url"] for f in preset["files"]]
    assert urls == [f"https://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI/IXI-{s}.tar"
                    for s in ("T1", "T2", "PD")]
    assert all(len(f["md5"]) == 32 and "sha256" not in f for f in preset["files"])
    source = HttpSource.from_block("ixi", {"preset": "ixi"})
    assert source.contrasts() == ["PDw", "T1w", "T2w"]
    assert [f.filename for f in source.needed_files(["T1w", "T2w"])] == ["IXI-T1.tar",
                                                                         "IXI-T2.tar"]


def test_schema_enums_list_exactly_the_shipped_presets():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    dataset = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    by_source = {s: dataset[s]["properties"]["preset"]["enum"] for s in ("http", "manual")}
    assert sorted(by_source["http"] + by_source["manual"]) == preset_names()
    assert all(load_preset(p)["source"] == s for s, names in by_source.items() for p in names)


def test_ixi_download_index_and_extract(ixi_site, tmp_path, caplog):
    source = HttpSource.from_block("ixi", local_ixi_block(ixi_site))
    local = {}
    for entry in source.needed_files(["T1w", "T2w"]):
        local[entry.filename] = tmp_path / entry.filename
        download(entry.download, local[entry.filename])
    assert sorted(local) == ["IXI-T1.tar", "IXI-T2.tar"]  # the PD archive is not needed
    with caplog.at_level(logging.WARNING):
        index = source.build_index(local, ["T1w", "T2w"])
    assert index["subjects"] == ["IXI002", "IXI012"]
    assert index["skipped"] == {"IXI013": "lacks T2w"}
    assert "sub-IXI013 (T2w)" in caplog.text
    assert index["scans"]["IXI012"]["T2w"] == {"file": "IXI-T2.tar",
                                               "member": "IXI012-HH-1211-T2.nii.gz"}


def test_real_ixi_md5_rejects_other_content(ixi_site, tmp_path):
    entry = HttpSource.from_block("ixi", {"preset": "ixi"}).files[0]
    local = replace(entry.download, url=ixi_site.url("IXI/IXI-T1.tar"))
    with pytest.raises(InputError, match=entry.download.md5):
        download(local, tmp_path / "IXI-T1.tar")


def test_extracted_scan_matches_the_archived_image(ixi_site, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = HttpSource.from_block("ixi", local_ixi_block(ixi_site))
    local = {}
    for entry in source.needed_files(["T1w"]):
        local[entry.filename] = Path("resources/downloads/ixi") / entry.filename
        download(entry.download, local[entry.filename])
    index = source.build_index(local, ["T1w"])
    assert index["subjects"] == ["IXI002", "IXI012", "IXI013"]
    out = raw_scan_path("ixi", "IXI012", "T1w")
    extract_scan(index, "ixi", "IXI012", "T1w", out)
    data, affine = load_nifti(out)
    expected, expected_affine = synthesise("02", "T1w", OPTIONS)
    np.testing.assert_allclose(data, expected, rtol=1e-6)
    np.testing.assert_allclose(affine, expected_affine, atol=1e-5)
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # no temporary left
    with pytest.raises(InputError, match="lacks T2w"):
        extract_scan({**index, "skipped": {"IXI013": "lacks T2w"}}, "ixi", "IXI013", "T2w",
                     tmp_path / "x.nii.gz")


def test_plan_subjects_of_an_http_dataset_come_from_its_index(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = {"source": "http", "contrasts": ["T1w", "T2w"], "reference_contrast": "T1w",
            "http": {"preset": "ixi"}}
    plan = Plan(dataset_config({"ixi": spec}))
    with pytest.raises(InputError, match="index_download"):
        plan.subjects("ixi")
    index_path("ixi").parent.mkdir(parents=True)
    index_path("ixi").write_text(json.dumps({
        "contrasts": ["T1w", "T2w"], "skipped": {},
        "scans": {"IXI002": {"T1w": {}, "T2w": {}}, "IXI012": {"T1w": {}, "T2w": {}}}}))
    waited = []
    assert Plan(plan.config, await_index=waited.append).subjects("ixi") == ["IXI002", "IXI012"]
    assert waited == ["ixi"]
    assert Plan(dataset_config({"ixi": {**spec, "max_subjects": 1}})).subjects("ixi") \
        == ["IXI002"]
    with pytest.raises(InputError, match=r"\['IXI013'\] are not available"):
        Plan(dataset_config({"ixi": {**spec, "subjects": ["IXI013"]}})).subjects("ixi")
    assert plan.dataset("ixi")["skullstrip"] == "deepbet"  # IXI is not skull-stripped


def test_config_errors_name_the_key():
    spec = {"source": "http", "contrasts": ["T1w", "FLAIR"], "reference_contrast": "T1w",
            "http": {"preset": "ixi"}}
    with pytest.raises(ConfigError, match=r"datasets.ixi.contrasts: \['FLAIR'\] not offered"):
        Plan(dataset_config({"ixi": spec}))
    with pytest.raises(ConfigError, match="not 'http'"):
        Plan(dataset_config({"b": {**spec, "contrasts": ["T1w"], "http": {"preset": "hcp"}}}))


def brats_case(root: Path, case: str, contrasts: tuple[str, ...] = ("t1", "t2", "flair")) -> None:
    folder = root / f"BraTS2021_{case}"
    folder.mkdir(parents=True)
    for contrast in contrasts:
        nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)),
                 folder / f"BraTS2021_{case}_{contrast}.nii.gz")


def test_manual_brats_preset_finds_cases_and_asks_for_skullstrip_none(tmp_path):
    brats_case(tmp_path, "00000")
    brats_case(tmp_path, "00002")
    spec = {"source": "manual", "contrasts": ["T1w", "T2w"], "reference_contrast": "T1w",
            "manual": {"preset": "brats2021", "root": str(tmp_path)}}
    plan = Plan(dataset_config({"brats": spec}))
    assert plan.subjects("brats") == ["00000", "00002"]
    assert plan.local_scan("brats", "00002", "T2w") \
        == tmp_path / "BraTS2021_00002" / "BraTS2021_00002_t2.nii.gz"
    assert (plan.dataset("brats")["skullstrip"], plan.dataset("brats")["template"]) \
        == ("none", "SRI24")
    overridden = Plan(dataset_config({"brats": {**spec, "skullstrip": "deepbet"}}))
    assert overridden.dataset("brats")["skullstrip"] == "deepbet"


def test_manual_dataset_with_missing_files_stops_with_instructions(tmp_path):
    brats_case(tmp_path, "00000")
    brats_case(tmp_path, "00005", contrasts=("t1", "flair"))
    source = ManualSource.from_block("brats", {"preset": "brats2021", "root": str(tmp_path)})
    with pytest.raises(InputError) as error:
        source.scans(["T1w", "T2w"])
    message = str(error.value)
    assert str(tmp_path / "BraTS2021_00005" / "BraTS2021_00005_t2.nii.gz") in message
    assert "1 expected file(s) are missing" in message
    assert "https://www.synapse.org/#!Synapse:syn25829067" in message
    assert f"{tmp_path}/BraTS2021_00000/BraTS2021_00000_t1.nii.gz" in message  # the layout
    with pytest.raises(InputError, match="does not exist") as absent:
        ManualSource.from_block("hcp", {"preset": "hcp", "root": str(tmp_path / "nope")}
                                ).scans(["T1w"])
    assert "ConnectomeDB" in str(absent.value)


def test_manual_msseg_and_hcp_layouts(tmp_path):
    image = nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4))
    for relative in ("Center_01/Patient_03/Preprocessed_Data/T1_preprocessed.nii.gz",
                     "Center_01/Patient_03/Preprocessed_Data/FLAIR_preprocessed.nii.gz",
                     "hcp/100307/T1w/T1w_acpc_dc_restore.nii.gz",
                     "hcp/100307/T1w/T2w_acpc_dc_restore.nii.gz"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        nib.save(image, tmp_path / relative)
    msseg = ManualSource.from_block("ms", {"preset": "msseg2016", "root": str(tmp_path)})
    assert list(msseg.scans(["T1w", "FLAIR"])) == ["C01P03"]
    assert msseg.recommended["skullstrip"] == "none"
    hcp = ManualSource.from_block("hcp", {"preset": "hcp", "root": str(tmp_path / "hcp")})
    assert list(hcp.scans(["T1w", "T2w"])) == ["100307"]


def test_fetch_rules_download_index_and_extract_end_to_end(ixi_site, tmp_path):
    block = local_ixi_block(ixi_site)
    config = dataset_config({"ixi": {"source": "http", "contrasts": ["T1w", "T2w"],
                                      "reference_contrast": "T1w", "resolution_mm": 4.0,
                                      "http": block}})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    configfile = tmp_path / "config.yaml"
    dry = run_snakemake(tmp_path, configfile, "-n")  # subjects unknown: the DAG waits for the index
    assert dry.returncode == 0, dry.stderr
    assert "download_file" in dry.stdout and "index_download" in dry.stdout
    target = "resources/datasets/ixi/sub-IXI012/anat/sub-IXI012_T2w.nii.gz"
    run = run_snakemake(tmp_path, configfile, "--cores", "1", target)
    assert run.returncode == 0, run.stderr
    index = read_index(tmp_path / index_path("ixi"))
    assert index["subjects"] == ["IXI002", "IXI012"]
    assert "sub-IXI013 (T2w)" in (tmp_path / "logs/fetch/ixi/index.log").read_text()
    lock = yaml.safe_load((tmp_path / "isosr.lock.yaml").read_text())
    assert sorted(lock) == [ixi_site.url("IXI/IXI-T1.tar"), ixi_site.url("IXI/IXI-T2.tar")]
    assert (tmp_path / target).is_file()
    assert sorted(p.name for p in (tmp_path / "resources/datasets/ixi").iterdir()) \
        == ["index.json", "sub-IXI012"]  # only what was asked for is extracted


def test_brats_dry_run_fetches_sri24_and_hdbet_parameters_first(tmp_path):
    brats_case(tmp_path / "brats", "00000")
    spec = {"source": "manual", "contrasts": ["T1w", "T2w"], "skullstrip": "hd-bet",
            "manual": {"preset": "brats2021", "root": str(tmp_path / "brats")}}
    config = dataset_config({"brats": spec})
    config["hdbet"] = {"weights_dir": str(tmp_path / "hdbet")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    target = "results/brats/preproc/sub-00000/T2w.nii.gz"
    dry = run_snakemake(tmp_path, tmp_path / "config.yaml", "-n", target)
    assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
    for rule in ("fetch_template", "fetch_hdbet_parameters", "fetch_local", "register_reference"):
        assert f"rule {rule}:" in dry.stdout or f"localrule {rule}:" in dry.stdout, rule
    assert "resources/templates/SRI24_T1w.nii.gz" in dry.stdout
    assert str(tmp_path / "hdbet/hd-bet_params/release_2.0.0/fold_all/checkpoint_final.pth") \
        in dry.stdout
