# report: one table per dataset x scenario (mean ± std over subjects).


rule table:
    input:
        lambda w: expand(
            "results/{dataset}/metrics/{scenario}/{method}/sub-{s}.tsv",
            dataset=w.dataset,
            scenario=w.scenario,
            method=PLAN.methods,
            s=PLAN.subjects(w.dataset),
        ),
    output:
        csv="results/tables/{dataset}_{scenario}.csv",
        md="results/tables/{dataset}_{scenario}.md",
    log:
        "logs/report/{dataset}_{scenario}.log",
    params:
        methods=PLAN.methods,
        caption=lambda w: PLAN.caption(w.dataset, w.scenario),
    localrule: True
    script:
        "../scripts/table.py"
