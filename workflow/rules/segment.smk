# segment: tissue labels of the HR ground truth and of every prediction (Dice, volume difference).
# A prediction is labelled with the class model of its subject's ground truth (in its sidecar).


rule segment_truth:
    input:
        image=paths.hr_image(),
        mask=paths.brain_mask(),
    output:
        labels=paths.truth_labels(),
        sidecar=paths.truth_labels(suffix=".json"),
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
        image=paths.prediction(),
        mask=paths.brain_mask(),
        truth=paths.truth_labels(suffix=".json"),
    output:
        labels=paths.prediction_labels(),
        sidecar=paths.prediction_labels(suffix=".json"),
    log:
        "logs/segment/{dataset}/{scenario}/{method}/sub-{s}{rep}_{contrast}.log",
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
