# fetch: materialise raw scans as a BIDS-like tree under resources/datasets/{dataset}/, and the
# downloaded resources (SRI24 template, HD-BET parameters). Downloads run on the submitting host
# (localrules): compute nodes often have no internet. Download rules take their file's spec from
# the config inside the script, not as params, so a config edit (e.g. adding a sha256) never
# makes Snakemake delete and fetch a verified multi-GB archive again.
import os

from isosr.data.hdbet import checkpoint_file
from isosr.data.http import download_path
from isosr.data.layout import index_path
from isosr.data.lockfile import ChecksumLock
from isosr.data.templates import DOWNLOADED_TEMPLATES, downloaded_template


# Checksums of files whose publisher gives none go to isosr.lock.yaml next to the config
# (a relative path, so moving the project does not look like a changed parameter).
LOCK = os.path.relpath(
    ChecksumLock.next_to(
        workflow.overwrite_configfiles[-1] if workflow.overwrite_configfiles else "config.yaml"
    ).path
)
HTTP_DATASETS = PLAN.datasets_of_source("http")


rule fetch_embedded:
    output:
        paths.raw_scan(),
    log:
        "logs/fetch/{dataset}/sub-{s}_{contrast}.log",
    wildcard_constraints:
        dataset=_alternatives(PLAN.datasets_of_source("embedded")),
    params:
        options=lambda wildcards: PLAN.embedded_options(wildcards.dataset),
    resources:
        **stage_resources("fetch"),
    conda:
        "../../envs/fetch.yaml"
    script:
        "../scripts/fetch_embedded.py"


rule download_file:
    output:
        str(download_path("{dataset}", "{filename}")),
    log:
        "logs/fetch/{dataset}/download_{filename}.log",
    wildcard_constraints:
        dataset=_alternatives(HTTP_DATASETS),
        filename=_alternatives({p.name for d in HTTP_DATASETS for p in PLAN.downloads(d)}),
    params:
        lock=LOCK,
    localrule: True
    conda:
        "../../envs/fetch.yaml"
    script:
        "../scripts/fetch_download.py"


checkpoint index_download:
    input:
        lambda w: [str(p) for p in PLAN.downloads(w.dataset)],
    output:
        str(index_path("{dataset}")),
    log:
        "logs/fetch/{dataset}/index.log",
    wildcard_constraints:
        dataset=_alternatives(HTTP_DATASETS),
    params:
        contrasts=lambda w: PLAN.dataset(w.dataset)["contrasts"],
    localrule: True
    conda:
        "../../envs/fetch.yaml"
    script:
        "../scripts/fetch_index.py"


rule extract_scan:
    input:
        index=str(index_path("{dataset}")),
        files=lambda w: [str(p) for p in PLAN.downloads(w.dataset)],
    output:
        paths.raw_scan(),
    log:
        "logs/fetch/{dataset}/sub-{s}_{contrast}.log",
    wildcard_constraints:
        dataset=_alternatives(HTTP_DATASETS),
    resources:
        **stage_resources("fetch"),
    conda:
        "../../envs/fetch.yaml"
    script:
        "../scripts/fetch_extract.py"


rule fetch_local:
    input:
        lambda w: str(PLAN.local_scan(w.dataset, w.s, w.contrast)),
    output:
        paths.raw_scan(),
    log:
        "logs/fetch/{dataset}/sub-{s}_{contrast}.log",
    wildcard_constraints:
        dataset=_alternatives(PLAN.datasets_of_source("bids") + PLAN.datasets_of_source("manual")),
    resources:
        **stage_resources("fetch"),
    conda:
        "../../envs/fetch.yaml"
    script:
        "../scripts/fetch_local.py"


rule fetch_template:
    output:
        str(downloaded_template("{template}")),
    log:
        "logs/fetch/template_{template}.log",
    wildcard_constraints:
        template=_alternatives(DOWNLOADED_TEMPLATES),
    params:
        lock=LOCK,
    localrule: True
    conda:
        "../../envs/fetch.yaml"
    script:
        "../scripts/fetch_template.py"


rule fetch_hdbet_parameters:
    output:
        str(checkpoint_file(config["hdbet"]["weights_dir"])),
    log:
        "logs/fetch/hdbet_parameters.log",
    params:
        lock=LOCK,
    localrule: True
    conda:
        "../../envs/fetch.yaml"
    script:
        "../scripts/fetch_hdbet_parameters.py"
