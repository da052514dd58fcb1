# report: per dataset x scenario, the quality, Dice and cost tables and three figures, all
# wrapped in report(...) with captions from workflow/report/*.rst for `snakemake --report`.


report: "../report/workflow.rst"


rule tables:
    input:
        metrics=subject_metrics(every_repeat=True),
        fits=per_subject(paths.fit_record, every_repeat=True),
        trainings=lambda w: [
            paths.train_record(dataset=w.dataset, scenario=w.scenario, method=m)
            for m in PLAN.trained_methods
        ],
    output:
        **{f"{k}_{ext}": table_path(k, ext) for k in TABLES for ext in ("csv", "md", "tex")},
        quality_html=report_item("table: quality", table_path("quality", "html"), "quality_table"),
        dice_html=report_item("table: Dice", table_path("dice", "html"), "dice_table"),
        cost_html=report_item("table: cost", table_path("cost", "html"), "cost_table"),
    log:
        "logs/report/tables_{dataset}_{scenario}.log",
    params:
        methods=PLAN.methods,
        reference=config["reference_method"],
        caption=lambda w: PLAN.caption(w.dataset, w.scenario),
        segmentation_backend=config["segmentation"]["backend"],
        lpips_missing=LPIPS_WEIGHTS.missing_reason,
    localrule: True
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/table.py"


rule figure_qualitative:
    input:
        unpack(qualitative_inputs),
    output:
        pdf=figure_path("qualitative", "pdf"),
        png=report_item("figure: qualitative", figure_path("qualitative", "png"), "qualitative"),
    log:
        "logs/report/figure_qualitative_{dataset}_{scenario}.log",
    params:
        contrasts=lambda w: PLAN.scenario_contrasts(w.scenario),
        methods=PLAN.methods,
        acquisitions=lambda w: {
            c: PLAN.acquisition(w.scenario, c) for c in PLAN.scenario_contrasts(w.scenario)
        },
        error_method=PLAN.error_method(),
        title=lambda w: f"{w.dataset} / {w.scenario} / sub-{PLAN.figure_subject(w.dataset)}",
    localrule: True
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_qualitative.py"


rule figure_mi:
    input:
        unpack(mi_inputs),
    output:
        pdf=figure_path("mi", "pdf"),
        png=report_item("figure: MI convergence", figure_path("mi", "png"), "mi_convergence"),
    log:
        "logs/report/figure_mi_{dataset}_{scenario}.log",
    params:
        contrasts=lambda w: PLAN.scenario_contrasts(w.scenario),
        subjects=lambda w: PLAN.test_subjects(w.dataset),
        title=lambda w: f"{w.dataset} / {w.scenario}",
    localrule: True
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_mi.py"


rule figure_metrics:
    input:
        subject_metrics(),
    output:
        pdf=figure_path("metrics", "pdf"),
        png=report_item("figure: metric distributions", figure_path("metrics", "png"),
                         "metric_distributions"),
    log:
        "logs/report/figure_metrics_{dataset}_{scenario}.log",
    params:
        methods=PLAN.methods,
        title=lambda w: f"{w.dataset} / {w.scenario}",
    localrule: True
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/figure_metrics.py"


rule qc_validity:
    input:
        metrics=subject_metrics(),
    output:
        csv=validity_path("csv"),
        md=validity_path("md"),
        pdf=validity_path("pdf"),
        png=report_item("figure: QC validity", validity_path("png"), "qc_validity"),
    log:
        "logs/report/qc_validity_{dataset}_{scenario}.log",
    params:
        caption=lambda w: (
            f"{w.dataset} / {w.scenario}: Spearman rank correlation of data consistency "
            "(no reference) with the true PSNR across methods and test subjects"
        ),
    localrule: True
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/qc_validity.py"


rule publish_benchmark:
    input:
        predictions=lambda w: [
            paths.prediction(dataset=w.dataset, scenario=w.scenario, method=m, s=s, rep="",
                             contrast=c)
            for m in PLAN.methods for s in PLAN.test_subjects(w.dataset)
            for c in PLAN.scenario_contrasts(w.scenario)
        ],
        fits=per_subject(paths.fit_record),
        metrics=subject_metrics(),  # per test subject (all methods), as the masks
        masks=lambda w: [paths.brain_mask(dataset=w.dataset, s=s)
                         for s in PLAN.test_subjects(w.dataset)],
    output:
        directory(paths.benchmark_derivatives()),
    log:
        "logs/report/publish_benchmark_{dataset}_{scenario}.log",
    params:
        config=config,
        methods=PLAN.methods,
        subjects=lambda w: PLAN.test_subjects(w.dataset),
        acquisitions=_acquisitions,
        raw=lambda w: f"{DATASETS_DIR}/{w.dataset}",
    localrule: True
    conda:
        "../../envs/report.yaml"
    script:
        "../scripts/publish_benchmark.py"
