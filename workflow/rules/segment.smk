# segment: tissue labels of the HR ground truth and of every prediction (Dice, volume difference).


rule segment_truth:
    input:
        image="results/{dataset}/preproc/sub-{s}/{contrast}.nii.gz",
        mask="results/{dataset}/preproc/sub-{s}/brainmask.nii.gz",
    output:
        labels="results/{dataset}/seg/sub-{s}/{contrast}_dseg.nii.gz",
        sidecar="results/{dataset}/seg/sub-{s}/{contrast}_dseg.json",
    log:
        "logs/segment/{dataset}/sub-{s}_{contrast}.log",
    params:
        settings=SEGMENTATION_SETTINGS,
    group:
        "subject_evaluate"
    resources:
        **stage_resources("evaluate"),
    conda:
        "../../envs/preprocess.yaml"
    script:
        "../scripts/segment.py"


rule segment_prediction:
    input:
        image="results/{dataset}/sr/{scenario}/{method}/sub-{s}/{contrast}.nii.gz",
        mask="results/{dataset}/preproc/sub-{s}/brainmask.nii.gz",
    output:
        labels="results/{dataset}/seg/{scenario}/{method}/sub-{s}/{contrast}_dseg.nii.gz",
        sidecar="results/{dataset}/seg/{scenario}/{method}/sub-{s}/{contrast}_dseg.json",
    log:
        "logs/segment/{dataset}/{scenario}/{method}/sub-{s}_{contrast}.log",
    params:
        settings=SEGMENTATION_SETTINGS,
    group:
        "subject_evaluate"
    resources:
        **stage_resources("evaluate"),
    conda:
        "../../envs/preprocess.yaml"
    script:
        "../scripts/segment.py"
