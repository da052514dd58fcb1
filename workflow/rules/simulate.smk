# simulate: the LR acquisition of each contrast of a scenario, from the HR ground truth.


rule simulate:
    input:
        paths.hr_image(),
    output:
        paths.lr_image(),
    log:
        "logs/simulate/{dataset}/{scenario}/sub-{s}_{contrast}.log",
    params:
        acquisition=lambda w: PLAN.acquisition(w.scenario, w.contrast),
        seed=lambda w: f"{config['seed']}/{w.dataset}/{w.scenario}/{w.s}/{w.contrast}",
    resources:
        **stage_resources("simulate"),
    conda:
        "../../envs/simulate.yaml"
    script:
        "../scripts/simulate.py"
