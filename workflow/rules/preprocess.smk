# preprocess: skull-strip + register the reference contrast, then every contrast onto the HR grid.


rule register_reference:
    input:
        # the reference scan, and what must be downloaded first (SRI24, HD-BET parameters)
        unpack(
            lambda w: {
                "raw": paths.raw_scan(
                    dataset=w.dataset, s=w.s, contrast=reference_contrast(w.dataset)
                ),
                **{k: str(p) for k, p in PLAN.preprocessing_downloads(w.dataset).items()},
            }
        ),
    output:
        mask=paths.brain_mask(),
        transform=paths.transform(name="reference_to_template"),
        sidecar=paths.brain_mask(suffix=".json"),
    log:
        "logs/preprocess/{dataset}/sub-{s}_reference.log",
    params:
        spec=lambda w: PLAN.dataset(w.dataset),
        hdbet=lambda w: config["hdbet"] if PLAN.dataset(w.dataset)["skullstrip"] == "hd-bet" else {},
        seed=config["seed"],
    resources:
        **stage_resources("register_reference"),
    conda:
        "../../envs/preprocess.yaml"
    script:
        "../scripts/register_reference.py"


rule preprocess_contrast:
    input:
        raw=paths.raw_scan(),
        reference=lambda w: paths.raw_scan(
            dataset=w.dataset, s=w.s, contrast=reference_contrast(w.dataset)
        ),
        mask=paths.brain_mask(),
        reference_transform=paths.transform(name="reference_to_template"),
    output:
        image=paths.hr_image(),
        transform=paths.transform(name="{contrast}_to_reference"),
        sidecar=paths.hr_image(suffix=".json"),
    log:
        "logs/preprocess/{dataset}/sub-{s}_{contrast}.log",
    params:
        spec=lambda w: PLAN.dataset(w.dataset),
        seed=config["seed"],
    resources:
        **stage_resources("preprocess_contrast"),
    conda:
        "../../envs/preprocess.yaml"
    script:
        "../scripts/preprocess_contrast.py"
