# evaluate: one job per subject x scenario x repeat, for every method's fit of it (each step takes
# seconds with the ants back-end, so one job per fit would spend more on scheduling than on work):
# label each prediction's segmented contrast with the class model of its subject's ground truth
# (the sidecar of segment_truth), then PSNR, SSIM, LPIPS, MI errors and segmentation overlap of
# each method on the subject, all in one metrics file (its `method` column tells them apart; one
# file per subject rather than per fit keeps the report rules' inputs, and so the plan, small).
# One rule per segmented contrast (evaluate_<contrast>, as the labels' path names it; see
# Plan.segmentation_contrast). Labelling a prediction needs no ANTs (the fixed class model is
# applied with NumPy; FastSurfer runs in its container), so the evaluate env suffices.
_SEGMENTED_SCENARIOS = {}
for _scenario in PLAN.scenarios:
    _SEGMENTED_SCENARIOS.setdefault(PLAN.segmentation_contrast(_scenario), []).append(_scenario)


for _segmented, _scenarios in _SEGMENTED_SCENARIOS.items():

    rule:
        name:
            f"evaluate_{_segmented}"
        input:
            unpack(evaluate_inputs),
        output:
            metrics=paths.metrics(),
            labels=[paths.prediction_labels(method=m, contrast=_segmented) for m in PLAN.methods],
            sidecars=[
                paths.prediction_labels(method=m, contrast=_segmented, suffix=".json")
                for m in PLAN.methods
            ],
        log:
            evaluate="logs/evaluate/{dataset}/{scenario}/sub-{s}{rep}.log",
            segment=f"logs/segment/{{dataset}}/{{scenario}}/sub-{{s}}{{rep}}_{_segmented}.log",
        wildcard_constraints:
            scenario=_alternatives(_scenarios),
        params:
            methods=list(PLAN.methods),
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
            **stage_resources("evaluate", items=len(PLAN.methods)),
        conda:
            "../../envs/evaluate.yaml"
        script:
            "../scripts/evaluate.py"
