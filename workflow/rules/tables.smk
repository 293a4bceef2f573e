# The cheap last stage: the resolved study, Fig. 6, and Tables 1-6 from the per-run CSVs.

TABLES = [f"table{i}" for i in range(1, 7)]
HEAT = study.config.get("heatmap")


# Fig. 6 compares the stochastic sampler with max pooling: the first seed's run of each.
HEAT_RUNS = [(study.group_runs(g) or [None])[0] for g in ("ablation-tiny-stochastic", "ablation-tiny-max")]


def tables_outputs():
    out = [f"{PATHS['tables']}/{t}.{ext}" for t in TABLES for ext in ("csv", "md")]
    if HEAT and None not in HEAT_RUNS:
        out.append(f"{PATHS['tables']}/fig6_heatmap.png")
    return out


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
            stochastic=f"{RESULTS}/runs/{HEAT_RUNS[0]}/model.pt",
            pooling=f"{RESULTS}/runs/{HEAT_RUNS[1]}/model.pt",
            ready=data_ready(HEAT["set"]),
        output:
            png=f"{PATHS['tables']}/fig6_heatmap.png",
            csv=f"{PATHS['tables']}/fig6_heatmap.csv",
        log:
            "logs/heatmap.log",
        shell:
            "{PY} heatmap --checkpoints {input.stochastic} {input.pooling} --set {ROOT}/{HEAT[set]}"
            " --image {HEAT[image]} --passes {HEAT[passes]} --png {output.png} --csv {output.csv} > {log} 2>&1"


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
    shell:
        "{PY} tables --study {input.study} --out {PATHS[tables]} --baselines {workflow.basedir}/baselines > {log} 2>&1"
