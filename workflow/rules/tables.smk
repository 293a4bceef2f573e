# The cheap last stage: the resolved study, Fig. 6, and Tables 1-6 from the per-run CSVs.

rule study_json:
    # The resolved study as params, compared by value: it is written again when the study changes.
    output:
        PATHS["study"],
    log:
        f"{LOGS}/study_json.log",
    params:
        study=study.describe(),
    run:
        from hst.fsutil import atomic_write_text

        atomic_write_text(output[0], json.dumps(params.study, indent=2) + "\n")


if HEAT_RUNS:

    rule heatmap:
        input:
            stochastic=f"{RESULTS}/runs/{HEAT_RUNS[0]}/model.pt",
            pooling=f"{RESULTS}/runs/{HEAT_RUNS[1]}/model.pt",
            ready=data_ready(HEAT["set"]),
        output:
            png=report(f"{PATHS['tables']}/fig6_heatmap.png", caption="../report/heatmap.rst",
                       category="2 Figures", labels={"figure": "Fig. 6 sampled positions"}),
            csv=f"{PATHS['tables']}/fig6_heatmap.csv",
        log:
            f"{LOGS}/heatmap.log",
        params:
            py=PY,
            set_dir=lambda wc: f"{ROOT}/{HEAT['set']}",
            image=HEAT["image"],
            passes=HEAT["passes"],
            device=study.device,
            provenance=PROVENANCE,
        resources:
            gpu=1 if study.device == "cuda" else 0,
        conda:
            CONDA_ENV
        shell:
            "{params.py} heatmap --checkpoints {input.stochastic} {input.pooling} --set {params.set_dir}"
            " --image {params.image} --passes {params.passes} --device {params.device} --png {output.png}"
            " --csv {output.csv} > {log} 2>&1"


rule tables:
    input:
        study=PATHS["study"],
        complexity=PATHS["complexity"],
        reports=expand(PATHS["data_report"], set=study.sets),
        summaries=summaries(),
        runs=expand(f"{PATHS['run']}/model.pt", run=list(study.runs)),
    output:
        [f"{PATHS['tables']}/{t}.{ext}" for t in TABLES for ext in ("csv", "md")],
        results=f"{PATHS['tables']}/results.csv",  # every number of the tables, full precision
    log:
        f"{LOGS}/tables.log",
    params:
        py=PY,
        out=lambda wc, output: os.path.dirname(output.results),
        baselines=f"{workflow.basedir}/baselines",
    conda:
        CONDA_ENV
    shell:
        "{params.py} tables --study {input.study} --out {params.out} --baselines {params.baselines} > {log} 2>&1"


if study.panel_evaluations():

    rule visual:
        # Figs. 7-8: input / HST / target crops of every test set of the derain and deblur experiments.
        input:
            study=PATHS["study"],
            restored=[f"{eval_dir(r, s)}/times.csv" for r, s in study.panel_evaluations()],
            ready=[data_ready(s) for _, s in study.panel_evaluations()],
        output:
            report(f"{PATHS['tables']}/fig7_visual.png", caption="../report/visual.rst",
                   category="2 Figures", labels={"figure": "Figs. 7-8 visual panels"}),
        log:
            f"{LOGS}/visual.log",
        params:
            py=PY,
            root=lambda wc: ROOT,
            provenance=PROVENANCE,
        conda:
            CONDA_ENV
        shell:
            "{params.py} visual --study {input.study} --root {params.root} --png {output} > {log} 2>&1"
