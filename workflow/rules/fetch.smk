# fetch: materialise raw scans as a BIDS-like tree under resources/datasets/{dataset}/.


rule fetch_embedded:
    output:
        raw_scan("{dataset}", "{s}", "{contrast}"),
    log:
        "logs/fetch/{dataset}/sub-{s}_{contrast}.log",
    wildcard_constraints:
        dataset=_alternatives(PLAN.datasets_of_source("embedded")),
    params:
        options=lambda wildcards: PLAN.embedded_options(wildcards.dataset),
    group:
        "subject_preprocess"
    script:
        "../scripts/fetch_embedded.py"
