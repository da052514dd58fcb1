# evaluate: one job per fit (each step takes seconds with the ants back-end): label the
# prediction's segmented contrast with the class model of its subject's ground truth (the sidecar
# of segment_truth), then PSNR, SSIM, LPIPS, MI errors and segmentation overlap of the method on
# the subject. One rule per segmented contrast (evaluate_<contrast>, as the labels' path names it;
# see Plan.segmentation_contrast). Labelling a prediction needs no ANTs (the fixed class model is
# applied with NumPy; FastSurfer runs in its container), so the evaluate env suffices.
_SEGMENTED_SCENARIOS = {}
for _scenario in PLAN.scenarios:
    _SEGMENTED_SCENARIOS.setdefault(PLAN.segmentation_contrast(_scenario), []).append(_scenario)


def _segment_log(contrast):
    """The log of an evaluation's segmentation step."""
    return f"logs/segment/{{dataset}}/{{scenario}}/{{method}}/sub-{{s}}{{rep}}_{contrast}.log"


for _segmented, _scenarios in _SEGMENTED_SCENARIOS.items():

    rule:
        name:
            f"evaluate_{_segmented}"
        input:
            unpack(evaluate_inputs),
        output:
            metrics=paths.metrics(),
            labels=paths.prediction_labels(contrast=_segmented),
            sidecar=paths.prediction_labels(contrast=_segmented, suffix=".json"),
        log:
            evaluate="logs/evaluate/{dataset}/{scenario}/{method}/sub-{s}{rep}.log",
            segment=_segment_log(_segmented),
        wildcard_constraints:
            scenario=_alternatives(_scenarios),
        params:
            contrasts=lambda w: PLAN.scenario_contrasts(w.scenario),
            acquisitions=_acquisitions,
            segmented=_segmented,
            settings=SEGMENTATION_SETTINGS,
            convention=PLAN.metric_convention,
            lpips_weights={
                "alexnet": LPIPS_WEIGHTS.alexnet and str(LPIPS_WEIGHTS.alexnet),
                "linear": LPIPS_WEIGHTS.linear and str(LPIPS_WEIGHTS.linear),
            },
        threads:  # FastSurfer's (its --threads); the fixed-model labelling and metrics: one
            SEGMENTATION_SETTINGS["fastsurfer"]["threads"]
            if SEGMENTATION_SETTINGS["backend"] == "fastsurfer"
            else 1
        resources:
            **stage_resources("evaluate"),
        conda:
            "../../envs/evaluate.yaml"
        script:
            "../scripts/evaluate.py"
