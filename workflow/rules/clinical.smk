# Studies without ground truth (datasets.<d>.ground_truth: false; isosr.clinical): per session,
# align the acquired stacks to the reference contrast (affines only), fit every method on them,
# check each output against the scans it came from (data consistency, inter-contrast MI), and
# write the outputs as BIDS derivatives with an HTML report per session and a study table.
# One set of rules per study: its contrasts fix each rule's outputs.


rule derivatives_description:
    output:
        description=f"{paths.derivatives_root()}/dataset_description.json",
        readme=f"{paths.derivatives_root()}/README",
        ignore=f"{paths.derivatives_root()}/.bidsignore",
    log:
        "logs/clinical/{dataset}/dataset_description.log",
    wildcard_constraints:
        dataset=_alternatives(PLAN.studies),
    params:
        config=config,
        source_uri=_raw_dataset_uri,
    localrule: True
    conda:
        "../../envs/preprocess.yaml"
    script:
        "../scripts/derivatives_description.py"


for _study in PLAN.studies:
    _spec = PLAN.study(_study)
    _contrasts = sorted(_spec["contrasts"])
    _name = _study.replace("-", "_")

    if _spec["source"] == "embedded":

        rule:
            name:
                f"make_lr_study_{_name}"
            output:
                scans=[str(p) for s in PLAN.sessions(_study)
                       for p in PLAN.session_scans(_study, s).values()],
                motion=str(lr_study_root(_study) / MOTION_FILE),
            log:
                f"logs/fetch/{_study}/lr_study.log",
            params:
                root=lambda w, output: str(Path(output.motion).parents[2]),
                subjects=sorted({s.subject for s in PLAN.sessions(_study)}),
                sessions=sorted({s.session for s in PLAN.sessions(_study)}),
                stacks=lr_study_stacks(_spec),
                spec=_spec,
                seed=config["seed"],
            conda:
                "../../envs/fetch.yaml"
            script:
                "../scripts/make_lr_study.py"

    rule:
        name:
            f"align_session_{_name}"
        input:
            scans=lambda w, study=_study: [
                str(PLAN.session_scans(study, _session(w))[c])
                for c in sorted(PLAN.study(study)["contrasts"])
            ],
        output:
            aligned=[paths.aligned_stack(contrast=c) for c in _contrasts],
            mask=paths.session_mask(),
            record=paths.alignment_record(),
        log:
            "logs/clinical/{dataset}/sub-{s}{ses}_align.log",
        wildcard_constraints:
            dataset=_study,
            **SESSION_WILDCARDS,
        params:
            contrasts=_contrasts,
            spec=_spec,
            label=lambda w: _session(w).label,
            hdbet=config["hdbet"] if _spec["skullstrip"] == "hd-bet" else {},
            seed=config["seed"],
        resources:
            **stage_resources("register_reference"),
        conda:
            "../../envs/preprocess.yaml"
        script:
            "../scripts/prepare_session.py"

    rule:
        name:
            f"study_fit_{_name}"
        input:
            unpack(_model_input),
            aligned=[paths.aligned_stack(contrast=c) for c in _contrasts],
            mask=paths.session_mask(),
            alignment=paths.alignment_record(),
            tools=lambda w: list(_required_files(DESC_METHOD[w.desc])),
        output:
            images=[paths.session_output(contrast=c) for c in _contrasts],
            record=paths.session_file(name="fit.json"),
        log:
            "logs/clinical/{dataset}/sub-{s}{ses}_{desc}.log",
        wildcard_constraints:
            dataset=_study,
            **SESSION_WILDCARDS,
        threads: 1
        resources:
            gpu=lambda w: _gpus(DESC_METHOD[w.desc]),
            cpus_per_gpu=lambda w, threads: threads,
            mem_mb=lambda w: _method_request("fit", DESC_METHOD[w.desc], w.dataset)["mem_mb"],
            runtime=lambda w: _method_request("fit", DESC_METHOD[w.desc], w.dataset)["runtime"],
        params:
            contrasts=_contrasts,
            method=lambda w: DESC_METHOD[w.desc],
            method_params=lambda w: PLAN.method_params(DESC_METHOD[w.desc]),
            seed=lambda w: fit_seed(config["seed"], w.s + w.ses, DESC_METHOD[w.desc], 0),
            checkpoint=lambda w: paths.session_file(
                dataset=w.dataset, s=w.s, ses=w.ses, desc=w.desc, name="checkpoint"
            ),
        conda:
            lambda w: _env(DESC_METHOD[w.desc])
        script:
            "../scripts/study_fit.py"

    rule:
        name:
            f"study_qc_{_name}"
        input:
            aligned=[paths.aligned_stack(contrast=c) for c in _contrasts],
            mask=paths.session_mask(),
            alignment=paths.alignment_record(),
            images=[paths.session_output(contrast=c) for c in _contrasts],
        output:
            record=paths.session_file(name="qc.json"),
            maps=[paths.consistency_map(contrast=c) for c in _contrasts],
        log:
            "logs/clinical/{dataset}/sub-{s}{ses}_{desc}_qc.log",
        wildcard_constraints:
            dataset=_study,
            **SESSION_WILDCARDS,
        params:
            contrasts=_contrasts,
        resources:
            **stage_resources("evaluate"),
        conda:
            "../../envs/evaluate.yaml"
        script:
            "../scripts/study_qc.py"

    rule:
        name:
            f"publish_derivatives_{_name}"
        input:
            images=[paths.session_output(contrast=c) for c in _contrasts],
            fit=paths.session_file(name="fit.json"),
            qc=paths.session_file(name="qc.json"),
            alignment=paths.alignment_record(),
            mask=paths.session_mask(),
        output:
            images=[paths.derivative_image(contrast=c) for c in _contrasts],
            sidecars=[paths.derivative_image(contrast=c, extension=".json") for c in _contrasts],
        log:
            "logs/clinical/{dataset}/sub-{s}/{sesdir}{ses}_{desc}_publish.log",
        wildcard_constraints:
            dataset=_study,
            **SESSION_WILDCARDS,
        params:
            contrasts=_contrasts,
            method=lambda w: DESC_METHOD[w.desc],
        localrule: True
        conda:
            "../../envs/evaluate.yaml"
        script:
            "../scripts/publish_derivatives.py"

    rule:
        name:
            f"session_report_{_name}"
        input:
            aligned=[paths.aligned_stack(contrast=c) for c in _contrasts],
            mask=paths.session_mask(),
            alignment=paths.alignment_record(),
            images=lambda w, c=_contrasts: [paths.session_output(
                dataset=w.dataset, s=w.s, ses=w.ses, desc=desc_label(m), contrast=x)
                for m in PLAN.methods for x in c],
            maps=lambda w, c=_contrasts: [paths.consistency_map(
                dataset=w.dataset, s=w.s, ses=w.ses, desc=desc_label(m), contrast=x)
                for m in PLAN.methods for x in c],
            qc=lambda w: [paths.session_file(
                dataset=w.dataset, s=w.s, ses=w.ses, desc=desc_label(m), name="qc.json")
                for m in PLAN.methods],
        output:
            paths.session_report(),
        log:
            "logs/clinical/{dataset}/sub-{s}{ses}_report.log",
        wildcard_constraints:
            dataset=_study,
            **SESSION_WILDCARDS,
        params:
            contrasts=_contrasts,
            methods=PLAN.methods,
        resources:
            **stage_resources("evaluate"),
        conda:
            "../../envs/report.yaml"
        script:
            "../scripts/session_report.py"

    rule:
        name:
            f"study_table_{_name}"
        input:
            qc=[paths.session_file(**_where(_study, s), desc=desc_label(m), name="qc.json")
                for s in PLAN.sessions(_study) for m in PLAN.methods],
            fit=[paths.session_file(**_where(_study, s), desc=desc_label(m), name="fit.json")
                 for s in PLAN.sessions(_study) for m in PLAN.methods],
        output:
            csv=paths.study_table(dataset=_study, extension="csv"),
            md=paths.study_table(dataset=_study, extension="md"),
        log:
            f"logs/clinical/{_study}/study_table.log",
        params:
            sessions=[s.label for s in PLAN.sessions(_study) for m in PLAN.methods],
            methods=[m for s in PLAN.sessions(_study) for m in PLAN.methods],
            reference_method=config["reference_method"],
            dataset=_study,
        localrule: True
        conda:
            "../../envs/report.yaml"
        script:
            "../scripts/study_table.py"
