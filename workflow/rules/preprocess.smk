# preprocess: skull-strip + register the reference contrast, then every contrast onto the HR grid.


rule register_reference:
    input:
        # the reference scan, and what must be downloaded first (SRI24, HD-BET parameters)
        unpack(
            lambda w: {
                "raw": raw_scan(w.dataset, w.s, reference_contrast(w.dataset)),
                **{k: str(p) for k, p in PLAN.preprocessing_downloads(w.dataset).items()},
            }
        ),
    output:
        mask="results/{dataset}/preproc/sub-{s}/brainmask.nii.gz",
        transform="results/{dataset}/preproc/sub-{s}/xfm/reference_to_template.mat",
        sidecar="results/{dataset}/preproc/sub-{s}/brainmask.json",
    log:
        "logs/preprocess/{dataset}/sub-{s}_reference.log",
    params:
        spec=lambda w: PLAN.dataset(w.dataset),
        hdbet=lambda w: config["hdbet"] if PLAN.dataset(w.dataset)["skullstrip"] == "hd-bet" else {},
        seed=config["seed"],
    group:
        "subject_preprocess"
    resources:
        **stage_resources("preprocess"),
    conda:
        "../../envs/preprocess.yaml"
    script:
        "../scripts/register_reference.py"


rule preprocess_contrast:
    input:
        raw=lambda w: raw_scan(w.dataset, w.s, w.contrast),
        reference=lambda w: raw_scan(w.dataset, w.s, reference_contrast(w.dataset)),
        mask="results/{dataset}/preproc/sub-{s}/brainmask.nii.gz",
        reference_transform="results/{dataset}/preproc/sub-{s}/xfm/reference_to_template.mat",
    output:
        image="results/{dataset}/preproc/sub-{s}/{contrast}.nii.gz",
        transform="results/{dataset}/preproc/sub-{s}/xfm/{contrast}_to_reference.mat",
        sidecar="results/{dataset}/preproc/sub-{s}/{contrast}.json",
    log:
        "logs/preprocess/{dataset}/sub-{s}_{contrast}.log",
    params:
        spec=lambda w: PLAN.dataset(w.dataset),
        seed=config["seed"],
    group:
        "subject_preprocess"
    resources:
        **stage_resources("preprocess"),
    conda:
        "../../envs/preprocess.yaml"
    script:
        "../scripts/preprocess_contrast.py"
