# Table 1: parameters and MACs of HST-tiny and HST-double (no data needed).

rule complexity:
    output:
        PATHS["complexity"],
    log:
        "logs/complexity.log",
    params:
        py=PY,
    conda:
        CONDA_ENV
    shell:
        "{params.py} complexity --format csv -o {output} > {log} 2>&1"
