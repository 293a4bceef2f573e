# HST study: datasets -> trainings -> restorations -> scores -> Tables 1-6 (+ Fig. 6).
#   snakemake --cores all                                    (default: synthetic twins, CPU, offline)
#   snakemake --cores all --configfile config/paper.yaml     (the real study; see README)
# The study (runs, sets, protocols) comes from hst.study, which `hst tables` reads too.

import os

from hst.errors import HSTError
from hst.study import Study


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
PY = "python -m hst"
# Every rule names the project's environment file (`--software-deployment-method conda`). Not the
# environment's name: Snakemake then asks conda to export it even when conda is not used.
CONDA_ENV = os.path.join(workflow.basedir, "environment.yml")


# `snakemake --report results/report.html`: this page, then every output declared with report().
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/released.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/complexity.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        tables_outputs(),
        report_outputs(),
