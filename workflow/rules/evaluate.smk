# evaluate: PSNR, SSIM, LPIPS, MI errors and segmentation overlap of one method on one subject.


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        paths.metrics(),
    log:
        "logs/evaluate/{dataset}/{scenario}/{method}/sub-{s}{rep}.log",
    params:
        contrasts=lambda w: PLAN.scenario_contrasts(w.scenario),
        lpips_weights={
            "alexnet": LPIPS_WEIGHTS.alexnet and str(LPIPS_WEIGHTS.alexnet),
            "linear": LPIPS_WEIGHTS.linear and str(LPIPS_WEIGHTS.linear),
        },
    group:
        "subject_evaluate"
    resources:
        **stage_resources("evaluate"),
    conda:
        "../../envs/evaluate.yaml"
    script:
        "../scripts/evaluate.py"
