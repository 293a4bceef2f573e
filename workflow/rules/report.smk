# The report's pieces: each is one file declared with report(), read by `snakemake --report`.
# Nothing is recomputed: the tables are the tables stage's CSVs, the plots read what the runs wrote.

rule report_table:
    input:
        f"{PATHS['tables']}/{{table}}.csv",
    output:
        report(f"{REPORT}/{{table}}.html", caption="../report/table.rst", category="1 Tables",
               labels={"table": "{table}"}),
    log:
        f"{LOGS}/report/{{table}}.log",
    params:
        py=PY,
        provenance=PROVENANCE,
    shell:
        "{params.py} report table --csv {input} -o {output} > {log} 2>&1"


rule report_curves:
    input:
        study=PATHS["study"],
        runs=expand(f"{PATHS['run']}/model.pt", run=list(study.runs)),
    output:
        report(f"{REPORT}/training_curves.png", caption="../report/curves.rst", category="3 Training",
               labels={"figure": "training curves"}),
    log:
        f"{LOGS}/report/curves.log",
    params:
        py=PY,
        provenance=PROVENANCE,
    shell:
        "{params.py} report curves --study {input.study} -o {output} > {log} 2>&1"


rule report_cost:
    input:
        study=PATHS["study"],
        tables=[f"{PATHS['tables']}/table{i}.csv" for i in (1, 3, 4)] + [f"{PATHS['tables']}/results.csv"],
    output:
        report(f"{REPORT}/cost_quality.png", caption="../report/cost.rst", category="2 Figures",
               labels={"figure": "cost / quality"}),
    log:
        f"{LOGS}/report/cost.log",
    params:
        py=PY,
        tables=lambda wc, input: os.path.dirname(input.tables[0]),
        provenance=PROVENANCE,
    shell:
        "{params.py} report cost --study {input.study} --tables {params.tables} -o {output} > {log} 2>&1"


rule report_psnr:
    input:
        study=PATHS["study"],
        summaries=summaries(),
    output:
        report(f"{REPORT}/psnr_per_image.png", caption="../report/psnr.rst", category="2 Figures",
               labels={"figure": "per-image PSNR"}),
    log:
        f"{LOGS}/report/psnr.log",
    params:
        py=PY,
        provenance=PROVENANCE,
    shell:
        "{params.py} report psnr --study {input.study} -o {output} > {log} 2>&1"


rule report_claims:
    input:
        study=PATHS["study"],
        tables=[f"{PATHS['tables']}/table{i}.csv" for i in (1, 3)] + [f"{PATHS['tables']}/results.csv"],
        readings=f"{RESULTS}/complexity/readings.csv",
    output:
        report(f"{REPORT}/claims.html", caption="../report/claims.rst", category="4 Claims",
               labels={"page": "the paper's claims"}),
    log:
        f"{LOGS}/report/claims.log",
    params:
        py=PY,
        tables=lambda wc, input: os.path.dirname(input.tables[0]),
        provenance=PROVENANCE,
    shell:
        "{params.py} report claims --study {input.study} --tables {params.tables} --readings {input.readings}"
        " -o {output} > {log} 2>&1"


rule report_times:
    input:
        study=PATHS["study"],
        runs=expand(f"{PATHS['run']}/model.pt", run=list(study.runs)),
        evals=[f"{eval_dir(r, s)}/eval.json" for r, s in study.evaluations()],
    output:
        report(f"{REPORT}/times.html", caption="../report/times.rst", category="3 Training",
               labels={"figure": "wall time and memory"}),
    log:
        f"{LOGS}/report/times.log",
    params:
        py=PY,
        benchmarks=f"{RESULTS}/benchmarks",
        provenance=PROVENANCE,
    shell:
        "{params.py} report times --study {input.study} --benchmarks {params.benchmarks} -o {output} > {log} 2>&1"
