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
        "logs/infer/{run}/{set}.log",
    params:
        out=PATHS["eval"],
        protocol=lambda wc: study.protocol(wc.set),
    threads: 1
    resources:
        gpu=1 if study.device == "cuda" else 0,
    shell:
        "{PY} evaluate --checkpoint {input.model} --set {ROOT}/{wildcards.set} --protocol {params.protocol}"
        " --out {params.out} --sampling {EVAL[sampling]} --seed {EVAL[seed]} --draws {EVAL[draws]}"
        " --no-score --threads {threads} --no-progress > {log} 2>&1"


rule score:
    input:
        times=f"{PATHS['eval']}/times.csv",
        ready=lambda wc: data_ready(wc.set),
    output:
        per_image=f"{PATHS['eval']}/per_image.csv",
        summary=f"{PATHS['eval']}/summary.csv",
    log:
        "logs/score/{run}/{set}.log",
    params:
        out=PATHS["eval"],
        protocol=lambda wc: study.protocol(wc.set),
    shell:
        "{PY} score --restored {params.out}/restored --set {ROOT}/{wildcards.set} --protocol {params.protocol}"
        " --out {params.out} > {log} 2>&1"


rule score_input:
    # The degraded inputs scored as they are: the floor every restoration must beat.
    input:
        ready=lambda wc: data_ready(wc.set),
    output:
        per_image=f"{RESULTS}/eval/input/{{set}}/per_image.csv",
        summary=f"{RESULTS}/eval/input/{{set}}/summary.csv",
    log:
        "logs/score/input/{set}.log",
    params:
        protocol=lambda wc: study.protocol(wc.set),
    shell:
        "{PY} score --inputs --set {ROOT}/{wildcards.set} --protocol {params.protocol}"
        " --out {RESULTS}/eval/input/{wildcards.set} > {log} 2>&1"
