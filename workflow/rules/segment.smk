# segment: tissue labels of the HR ground truth (Dice, volume difference). Each prediction is
# labelled with the class model of its subject's ground truth (in its sidecar) by its evaluation
# job (evaluate.smk).


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
    threads:  # FastSurfer's (its --threads); Atropos runs on one (ITK, repeatable)
        SEGMENTATION_SETTINGS["fastsurfer"]["threads"]
        if SEGMENTATION_SETTINGS["backend"] == "fastsurfer"
        else 1
    resources:
        **stage_resources("segment_truth"),
    conda:
        "../../envs/preprocess.yaml"
    script:
        "../scripts/segment.py"
