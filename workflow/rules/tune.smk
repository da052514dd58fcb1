# tune: per dataset x scenario x method that `tuning.methods` lists, a grid search of the
# method's declared hyper-parameters (isosr.tuning; LRTV: lambda_tv x lambda_rank) on validation
# subjects drawn from the training subjects only, scored by PSNR against their HR ground truth.
# Every fit of that method takes the record as input and uses (and records) the chosen values;
# without training subjects the record says `untuned` and the fits keep the configured values.
# One thread, as a fit (`--set-threads tune=2` gives it more).
from isosr.config import ConfigError
from isosr.tuning import TuningPlan, tuning_record

try:
    TUNING = TuningPlan(PLAN)
except ConfigError as error:
    raise SystemExit(f"isosr error: {error}") from None


rule tune:
    input:
        unpack(TUNING.inputs),
    output:
        record=tuning_record(),
    log:
        "logs/tune/{dataset}/{scenario}/{method}.log",
    wildcard_constraints:
        method=_alternatives(TUNING.methods),
    threads: 1
    resources:
        mem_mb=stage_resources("fit")["mem_mb"],
        runtime=TUNING.runtime(stage_resources("fit")["runtime"]),
    params:
        subjects=lambda w: TUNING.validation_subjects(w.dataset),
        max_subjects=TUNING.subjects,
        training_subjects=lambda w: PLAN.train_subjects(w.dataset),
        test_subjects=lambda w: PLAN.test_subjects(w.dataset),
        contrasts=lambda w: PLAN.scenario_contrasts(w.scenario),
        acquisitions=_acquisitions,
        method_params=lambda w: PLAN.method_params(w.method),
        seeds=TUNING.seeds,
    conda:
        _method_env
    script:
        "../scripts/tune.py"
