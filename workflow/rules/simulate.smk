# simulate: the LR acquisition of each contrast of a scenario, from the HR ground truth.


rule simulate:
    input:
        "results/{dataset}/preproc/sub-{s}/{contrast}.nii.gz",
    output:
        "results/{dataset}/lr/{scenario}/sub-{s}/{contrast}.nii.gz",
    log:
        "logs/simulate/{dataset}/{scenario}/sub-{s}_{contrast}.log",
    params:
        acquisition=lambda w: PLAN.acquisition(w.scenario, w.contrast),
        seed=lambda w: f"{config['seed']}/{w.dataset}/{w.scenario}/{w.s}/{w.contrast}",
    group:
        "subject_preprocess"
    resources:
        **stage_resources("simulate"),
    conda:
        "../../envs/simulate.yaml"
    script:
        "../scripts/simulate.py"
