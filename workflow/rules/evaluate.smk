# evaluate: PSNR, SSIM and MI errors of one method on one subject.


def _evaluate_inputs(w):
    contrasts = PLAN.scenario_contrasts(w.scenario)
    prefix = f"results/{w.dataset}"
    return {
        "truth": [f"{prefix}/preproc/sub-{w.s}/{c}.nii.gz" for c in contrasts],
        "prediction": [
            f"{prefix}/sr/{w.scenario}/{w.method}/sub-{w.s}/{c}.nii.gz" for c in contrasts
        ],
        "mask": f"{prefix}/preproc/sub-{w.s}/brainmask.nii.gz",
    }


rule evaluate:
    input:
        unpack(_evaluate_inputs),
    output:
        "results/{dataset}/metrics/{scenario}/{method}/sub-{s}.tsv",
    log:
        "logs/evaluate/{dataset}/{scenario}/{method}/sub-{s}.log",
    params:
        contrasts=lambda w: PLAN.scenario_contrasts(w.scenario),
    group:
        "subject_evaluate"
    script:
        "../scripts/evaluate.py"
