# Released weights (study key released.evaluate): each downloaded once (size and sha256 checked) and
# written as a checkpoint of this harness, then restored and scored on its test set twice: under its
# authors' protocol (to set beside their published figure) and under the table's protocol.

rule released_weights:
    output:
        PATHS["released_model"],
    log:
        f"{LOGS}/released/{{weights}}.log",
    params:
        py=PY,
        registry=study.released_registry(),
        # The downloads' cache (kept to resume and check a download), not an output: the checkpoint is.
        root=f"{ROOT}/_weights",
    shell:
        "{params.py} weights --registry {params.registry} fetch {wildcards.weights} --root {params.root}"
        " --checkpoint {output} --no-progress > {log} 2>&1"


rule released_eval:
    input:
        model=PATHS["released_model"],
        ready=lambda wc: data_ready(wc.set),
        report=PATHS["data_report"],
    output:
        summary=f"{PATHS['released_eval']}/summary.csv",
    log:
        f"{LOGS}/released/{{weights}}/{{set}}/{{protocol}}.log",
    params:
        py=PY,
        out=lambda wc, output: os.path.dirname(output.summary),
        set_dir=lambda wc, input: set_dir(input.ready),
        device=study.device,
    threads: 1
    resources:
        gpu=1 if study.device == "cuda" else 0,
    shell:
        "{params.py} evaluate --checkpoint {input.model} --data {params.set_dir} --protocol {wildcards.protocol}"
        " --out {params.out} --no-save --device {params.device} --threads {threads} --no-progress > {log} 2>&1"
