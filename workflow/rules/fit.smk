# fit: one rule per set of contrasts (a scenario's outputs are one file per contrast it acquires).
#
# Methods that train on a GPU (the INRs) request `gpu=1`, so one card is never shared by two fits,
# and checkpoint every epoch into sub-{s}/checkpoint/. That folder is deliberately not an output:
# Snakemake removes the outputs of a failed or killed job but leaves it, so running the workflow
# again resumes the fit from its last finished epoch; the fit removes it once it has succeeded.
# One CPU thread per fit: fits run side by side on the cores (PyTorch's OpenMP threads slow down
# badly when they share cores with other jobs); `--set-threads fit_T1w_T2w=8` gives a CPU-only
# fit more.
from isosr.methods import method_class


def _uses_gpu(method):
    """1 for methods that train on a GPU when one is present, else 0."""
    return int(method_class(method).uses_gpu)


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
            tools=lambda w: method_class(w.method).required_files(PLAN.method_params(w.method)),
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
        threads: 1
        resources:
            gpu=lambda w: _uses_gpu(w.method),
            cpus_per_gpu=lambda w, threads: threads,
            **stage_resources("fit"),
        params:
            contrasts=list(_contrasts),
            acquisitions=lambda w: {
                c: PLAN.acquisition(w.scenario, c) for c in PLAN.scenario_contrasts(w.scenario)
            },
            method_params=lambda w: PLAN.method_params(w.method),
            seed=config["seed"],
            checkpoint=lambda w: (
                f"results/{w.dataset}/sr/{w.scenario}/{w.method}/sub-{w.s}/checkpoint"
            ),
        conda:
            "../../envs/inr.yaml"
        script:
            "../scripts/fit.py"

