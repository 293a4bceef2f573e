# The paper's figures: Fig. 6 (where the samplers pick, from two trained models) and Figs. 7-8 (crops of
# the restored test sets).

if HEAT_RUNS:

    rule heatmap:
        input:
            stochastic=f"{PATHS['run'].format(run=HEAT_RUNS[0])}/model.pt",
            pooling=f"{PATHS['run'].format(run=HEAT_RUNS[1])}/model.pt",
            ready=data_ready(HEAT["set"]),
        output:
            png=report(f"{PATHS['tables']}/fig6_heatmap.png", caption="../report/heatmap.rst",
                       category="2 Figures", labels={"figure": "Fig. 6 sampled positions"}),
            csv=f"{PATHS['tables']}/fig6_heatmap.csv",
        log:
            f"{LOGS}/heatmap.log",
        params:
            py=PY,
            set_dir=lambda wc, input: set_dir(input.ready),
            image=HEAT["image"],
            passes=HEAT["passes"],
            device=study.device,
            provenance=PROVENANCE,
        resources:
            gpu=1 if study.device == "cuda" else 0,
        shell:
            "{params.py} heatmap --checkpoints {input.stochastic} {input.pooling} --data {params.set_dir}"
            " --image {params.image} --passes {params.passes} --device {params.device} --out {output.png}"
            " --csv {output.csv} > {log} 2>&1"


if study.panel_evaluations():

    rule visual:
        # Figs. 7-8: input / HST / target crops of every test set of the derain and deblur experiments.
        localrule: True  # crops of saved PNGs: seconds
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
            root=lambda wc, input: data_root(input.ready[0]),
            provenance=PROVENANCE,
        shell:
            "{params.py} visual --study {input.study} --root {params.root} --out {output} > {log} 2>&1"
