# Table 1: parameters and MACs of HST-tiny and HST-double (no data needed).

rule complexity:
    output:
        PATHS["complexity"],
    log:
        "logs/complexity.log",
    shell:
        "{PY} complexity --format csv -o {output} > {log} 2>&1"
