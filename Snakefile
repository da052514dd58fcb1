# isosr: MRI super-resolution benchmark. See README.md and ../shared/design.md for the data flow.
import os

from snakemake.utils import min_version

min_version("9.0")


# The default run's config; a --configfile on the command line replaces it (no merging, so a
# cohort config never inherits the embedded dataset's scenarios).
# It is read strictly first (duplicate keys, non-UTF-8 bytes, alias bombs: one line), as
# Snakemake's own reading of it ends in a traceback; a --configfile is read by Snakemake before
# this file runs and checked strictly in common.smk.
if not workflow.overwrite_configfiles:
    from isosr.config_file import check_config_file

    check_config_file(os.path.join(workflow.basedir, "config.yaml"))

    configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/report_common.smk"
include: "workflow/rules/fit_common.smk"
include: "workflow/rules/clinical_common.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/tools.smk"
include: "workflow/rules/segment.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/clinical.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
