# fit: one rule per set of contrasts (a scenario's outputs are one file per contrast it acquires).

for _contrasts, _scenarios in PLAN.scenarios_by_contrasts().items():

    rule:
        name:
            f"fit_{'_'.join(_contrasts)}"
        input:
            lr=expand(
                "results/{{dataset}}/lr/{{scenario}}/sub-{{s}}/{contrast}.nii.gz",
                contrast=_contrasts,
            ),
            mask="results/{dataset}/preproc/sub-{s}/brainmask.nii.gz",
        output:
            images=expand(
                "results/{{dataset}}/sr/{{scenario}}/{{method}}/sub-{{s}}/{contrast}.nii.gz",
                contrast=_contrasts,
            ),
            record="results/{dataset}/sr/{scenario}/{method}/sub-{s}/fit.json",
        log:
            "logs/fit/{dataset}/{scenario}/{method}/sub-{s}.log",
        wildcard_constraints:
            scenario=_alternatives(_scenarios),
        params:
            contrasts=list(_contrasts),
            acquisitions=lambda w: {
                c: PLAN.acquisition(w.scenario, c) for c in PLAN.scenario_contrasts(w.scenario)
            },
            method_params=lambda w: PLAN.method_params(w.method),
            seed=config["seed"],
        script:
            "../scripts/fit.py"
