# Table 1: parameters and MACs of HST-tiny and HST-double (no data needed).

rule complexity:
    output:
        PATHS["complexity"],
    log:
        f"{LOGS}/complexity.log",
    params:
        py=PY,
    shell:
        "{params.py} complexity --format csv -o {output} > {log} 2>&1"


rule readings:
    # Parameters of tiny and double for each reading of the paper's open choices (the report's claims).
    output:
        f"{RESULTS}/complexity/readings.csv",
    log:
        f"{LOGS}/readings.log",
    params:
        py=PY,
    shell:
        "{params.py} complexity --readings --format csv -o {output} > {log} 2>&1"
