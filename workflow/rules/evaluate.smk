# Inference and scoring are separate steps: restore a set to PNGs (+ times), then score the PNGs.

EVAL = study.config["evaluation"]


rule infer:
    input:
        model=f"{PATHS['run']}/model.pt",
        ready=lambda wc: data_ready(wc.set),
        report=PATHS["data_report"],
    output:
        times=f"{PATHS['eval']}/times.csv",
        meta=f"{PATHS['eval']}/eval.json",
    log:
        f"{LOGS}/infer/{{run}}/{{set}}.log",
    params:
        out=lambda wc, output: os.path.dirname(output.times),
        protocol=lambda wc: study.protocol(wc.set),
        py=PY,
        set_dir=lambda wc, input: set_dir(input.ready),
        sampling=EVAL["sampling"],
        seed=EVAL["seed"],
        draws=EVAL["draws"],
        device=study.device,
    benchmark:
        f"{RESULTS}/benchmarks/infer/{{run}}/{{set}}.tsv"
    threads: 1
    resources:
        gpu=1 if study.device == "cuda" else 0,
    shell:
        "{params.py} evaluate --checkpoint {input.model} --data {params.set_dir} --protocol {params.protocol}"
        " --out {params.out} --sampling {params.sampling} --seed {params.seed} --draws {params.draws}"
        " --device {params.device} --no-score --threads {threads} --no-progress > {log} 2>&1"


rule score:
    input:
        times=f"{PATHS['eval']}/times.csv",
        ready=lambda wc: data_ready(wc.set),
    output:
        per_image=f"{PATHS['eval']}/per_image.csv",
        summary=f"{PATHS['eval']}/summary.csv",
    log:
        f"{LOGS}/score/{{run}}/{{set}}.log",
    params:
        out=lambda wc, output: os.path.dirname(output.summary),
        protocol=lambda wc: study.protocol(wc.set),
        py=PY,
        set_dir=lambda wc, input: set_dir(input.ready),
    shell:
        "{params.py} score --restored {params.out}/restored --data {params.set_dir} --protocol {params.protocol}"
        " --out {params.out} > {log} 2>&1"


rule score_input:
    # The degraded inputs scored as they are: the floor every restoration must beat.
    input:
        ready=lambda wc: data_ready(wc.set),
    output:
        per_image=f"{RESULTS}/eval/input/{{set}}/per_image.csv",
        summary=f"{RESULTS}/eval/input/{{set}}/summary.csv",
    log:
        f"{LOGS}/score/input/{{set}}.log",
    params:
        protocol=lambda wc: study.protocol(wc.set),
        py=PY,
        set_dir=lambda wc, input: set_dir(input.ready),
        out=lambda wc, output: os.path.dirname(output.summary),
    shell:
        "{params.py} score --inputs --data {params.set_dir} --protocol {params.protocol}"
        " --out {params.out} > {log} 2>&1"
