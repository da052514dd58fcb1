# fit: one rule per set of contrasts (a scenario's outputs are one file per contrast it acquires);
# train: a cohort method once per dataset x scenario, on the training subjects only.
#
# Methods that train on a GPU (their spec says so) request `gpu=1`, so one card is never shared
# by two jobs, and checkpoint every epoch into a `checkpoint/` folder beside their outputs. That
# folder is deliberately not an output: Snakemake removes the outputs of a failed or killed job
# but leaves it, so running the workflow again resumes from the last finished epoch; the job
# removes it once it has succeeded. One CPU thread per fit: fits run side by side on the cores
# (PyTorch's OpenMP threads slow down badly when they share cores with other jobs);
# `--set-threads fit_T1w_T2w=8` gives a CPU-only fit more. A training job takes up to 8 cores.
# Each fit has its own seed (isosr.repeats); with `repeats: N` a subject is fitted N times, repeat
# r > 0 in sub-{s}_rep-{r} ({rep}); a cohort method is trained once and only predicts N times.
from isosr.repeats import fit_seed, repeat_index


rule train:
    input:
        unpack(training_inputs),
    output:
        model=paths.model_file(),
        record=paths.train_record(),
    log:
        "logs/train/{dataset}/{scenario}/{method}.log",
    wildcard_constraints:
        method=_alternatives(PLAN.trained_methods),
    threads: 8  # capped at --cores locally
    resources:
        gpu=lambda w: _gpus(w.method),
        cpus_per_gpu=lambda w, threads: threads,
        **method_resources("train"),
    params:
        subjects=lambda w: PLAN.train_subjects(w.dataset),
        contrasts=lambda w: PLAN.scenario_contrasts(w.scenario),
        acquisitions=_acquisitions,
        method_params=lambda w: PLAN.method_params(w.method),
        seed=config["seed"],
        checkpoint=lambda w: paths.train_checkpoint(
            dataset=w.dataset, scenario=w.scenario, method=w.method
        ),
    conda:
        _method_env
    script:
        "../scripts/train.py"


rule fetch_model:
    output:
        paths.model_file(),
    log:
        "logs/fetch/{dataset}/{scenario}/{method}_model.log",
    wildcard_constraints:
        method=_alternatives(PLAN.pretrained_methods),
    params:
        published=lambda w: PLAN.pretrained(w.method),
    localrule: True
    conda:
        "../../envs/fetch.yaml"
    script:
        "../scripts/fetch_model.py"


for _contrasts, _scenarios in PLAN.scenarios_by_contrasts().items():

    rule:
        name:
            f"fit_{'_'.join(_contrasts)}"
        input:
            unpack(_trained_model),
            unpack(TUNING.fit_input),  # a tuned method's tuning record (tune.smk)
            lr=[paths.lr_image(contrast=c) for c in _contrasts],
            mask=paths.brain_mask(),
            tools=_tool_files,
        output:
            images=[paths.prediction(contrast=c) for c in _contrasts],
            record=paths.fit_record(),
        log:
            "logs/fit/{dataset}/{scenario}/{method}/sub-{s}{rep}.log",
        wildcard_constraints:
            scenario=_alternatives(_scenarios),
        threads: 1
        resources:
            gpu=lambda w: _gpus(w.method),
            cpus_per_gpu=lambda w, threads: threads,
            **method_resources("fit"),
        params:
            contrasts=list(_contrasts),
            acquisitions=_acquisitions,
            method_params=lambda w: PLAN.method_params(w.method),
            seed=lambda w: fit_seed(config["seed"], w.s, w.method, repeat_index(w.rep)),
            checkpoint=lambda w: paths.fit_checkpoint(
                dataset=w.dataset, scenario=w.scenario, method=w.method, s=w.s, rep=w.rep
            ),
        conda:
            _method_env
        script:
            "../scripts/fit.py"

