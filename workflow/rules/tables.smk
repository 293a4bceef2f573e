# The cheap last stage: the resolved study, then each table from what it reads alone (study.json's "reads",
# hst.study.layout.table_reads), so `snakemake results/tables/table6.md` waits for the sampler runs only.


rule study_json:
    # The resolved study as params, compared by value: it is written again when the study changes.
    output:
        PATHS["study"],
    log:
        f"{LOGS}/study_json.log",
    params:
        study=DESCRIBED,
    run:
        from hst.fsutil import atomic_write_text

        atomic_write_text(output[0], json.dumps(params.study, indent=2) + "\n")


rule table:
    # One of Tables 1-6 or the released weights' table: `hst tables --only`, from its runs' scores alone.
    input:
        study=PATHS["study"],
        reads=lambda wc: reads(wc.table),
    output:
        csv=f"{PATHS['tables']}/{{table}}.csv",
        md=f"{PATHS['tables']}/{{table}}.md",
    log:
        f"{LOGS}/tables/{{table}}.log",
    params:
        py=PY,
        out=lambda wc, output: os.path.dirname(output.csv),
        # The published numbers: files of the repository, edited with the code that reads them.
        baselines=f"{workflow.basedir}/baselines",
    shell:
        "{params.py} tables --study {input.study} --out {params.out} --baselines {params.baselines}"
        " --only {wildcards.table} > {log} 2>&1"


rule results:
    # results.csv: every number of the tables at full precision, so every run's scores.
    input:
        study=PATHS["study"],
        reads=reads("results"),
    output:
        f"{PATHS['tables']}/results.csv",
    log:
        f"{LOGS}/tables/results.log",
    params:
        py=PY,
        out=lambda wc, output: os.path.dirname(output[0]),
    shell:
        "{params.py} tables --study {input.study} --out {params.out} --only results > {log} 2>&1"
