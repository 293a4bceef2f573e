# HST study: datasets -> trainings -> restorations -> scores -> Tables 1-6 (+ Fig. 6).
#   snakemake --cores all                                    (default: synthetic twins, CPU, offline)
#   snakemake --cores all --configfile config/paper.yaml     (the real study; see README)
# The study (runs, sets, protocols) comes from hst.study, which `hst tables` reads too.

import os

from snakemake.utils import min_version

from hst.errors import HSTError
from hst.study import Study

# The major version pinned and tested (pyproject.toml: snakemake 9.27.1).
min_version("9.0")


# The default study, unless --configfile names another: that one then stands alone (Snakemake
# would otherwise merge it into the default, and a study could not drop an experiment).
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


try:
    study = Study(config, source="config")
    study.check_recipe()
except HSTError as exc:
    raise SystemExit(f"error: {exc}")

RESULTS = study.results
LOGS = f"{RESULTS}/logs"  # each study's rule logs beside its results: two studies never share them
ROOT = study.root
PATHS = study.paths()
# Every rule runs the harness itself, from the environment Snakemake runs in (no `conda:`: docs/install.md).
PY = "python -m hst"


# `snakemake --report results/report.html`: this page, then every output declared with report().
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/released.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/complexity.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


# Rules of a few seconds run where Snakemake runs, not as cluster jobs (each would wait in the queue longer
# than it runs): the resolved study, the tables, the report's pieces; Figs. 7-8 too (figures.smk: `localrule:`,
# as a study without derain and deblur has no such rule).
localrules:
    all,
    study_json,
    table,
    results,
    report_table,
    report_curves,
    report_cost,
    report_psnr,
    report_claims,
    report_times,


rule all:
    input:
        tables_outputs(),
        report_outputs(),
