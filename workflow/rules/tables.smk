# The cheap last stage: the resolved study, Fig. 6, and Tables 1-6 from the per-run CSVs.

rule study_json:
    output:
        PATHS["study"],
    log:
        "logs/study_json.log",
    run:
        from hst.fsutil import atomic_write_text

        atomic_write_text(output[0], json.dumps(study.describe(), indent=2) + "\n")


if HEAT:

    rule heatmap:
        input:
            stochastic=f"{RESULTS}/runs/ablation-tiny-stochastic/model.pt",
            pooling=f"{RESULTS}/runs/ablation-tiny-max/model.pt",
            ready=data_ready(HEAT["set"]),
        output:
            png=f"{PATHS['tables']}/fig6_heatmap.png",
            csv=f"{PATHS['tables']}/fig6_heatmap.csv",
        log:
            "logs/heatmap.log",
        params:
            py=PY,
            set_dir=lambda wc: f"{ROOT}/{HEAT['set']}",
            image=HEAT["image"],
            passes=HEAT["passes"],
        conda:
            CONDA_ENV
        shell:
            "{params.py} heatmap --checkpoints {input.stochastic} {input.pooling} --set {params.set_dir}"
            " --image {params.image} --passes {params.passes} --png {output.png} --csv {output.csv} > {log} 2>&1"


rule tables:
    input:
        study=PATHS["study"],
        complexity=PATHS["complexity"],
        reports=expand(PATHS["data_report"], set=study.sets),
        summaries=summaries(),
        runs=expand(f"{PATHS['run']}/model.pt", run=list(study.runs)),
    output:
        [f"{PATHS['tables']}/{t}.{ext}" for t in TABLES for ext in ("csv", "md")],
    log:
        "logs/tables.log",
    params:
        py=PY,
        out=lambda wc, output: os.path.dirname(output[0]),
        baselines=f"{workflow.basedir}/baselines",
    conda:
        CONDA_ENV
    shell:
        "{params.py} tables --study {input.study} --out {params.out} --baselines {params.baselines} > {log} 2>&1"
