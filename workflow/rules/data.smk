# Datasets: synthetic twins (offline default) or the real sets (download), then checks and patch caches.

if study.source == "synthetic":

    rule synth:
        output:
            f"{ROOT}/{{set}}/twin.json",
        log:
            f"{LOGS}/data/synth_{{set}}.log",
        priority: lambda wc: data_priority(wc.set)
        params:
            args=lambda wc: " ".join(study.synth_args(wc.set)),
            py=PY,
            root=lambda wc, output: data_root(output[0]),
        shell:
            "{params.py} data synth {wildcards.set} --root {params.root} {params.args} > {log} 2>&1"

else:

    rule fetch:
        output:
            touch(f"{ROOT}/{{set}}/.fetched"),
        log:
            f"{LOGS}/data/fetch_{{set}}.log",
        params:
            override=override_flag(),
            py=PY,
            root=lambda wc, output: data_root(output[0]),
        retries: 2
        priority: lambda wc: data_priority(wc.set)
        shell:
            "{params.py} data fetch {wildcards.set} --root {params.root} {params.override} --no-progress > {log} 2>&1"


rule check:
    input:
        ready=lambda wc: data_ready(wc.set),
    output:
        PATHS["data_report"],
    priority: lambda wc: data_priority(wc.set)
    log:
        f"{LOGS}/data/check_{{set}}.log",
    params:
        override=override_flag(),
        py=PY,
        root=lambda wc, input: data_root(input.ready),
    shell:
        "{params.py} data check {wildcards.set} --root {params.root} {params.override} --json > {output} 2> {log}"


rule prepare:
    input:
        ready=lambda wc: data_ready(wc.set),
        report=PATHS["data_report"],
    output:
        f"{ROOT}/_cache/{{set}}/index.json",
    priority: lambda wc: data_priority(wc.set)
    log:
        f"{LOGS}/data/prepare_{{set}}.log",
    params:
        override=override_flag(),
        py=PY,
        root=lambda wc, input: data_root(input.ready),
    shell:
        "{params.py} data prepare {wildcards.set} --root {params.root} {params.override} > {log} 2>&1"
