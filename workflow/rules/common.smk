# Helpers shared by the rules: wildcard constraints and input functions.
import json

wildcard_constraints:
    set="|".join(study.sets) or "NONE",
    run="|".join(study.runs) or "NONE",
    # "input" is not a run: eval/input/<SET> holds the scores of the degraded inputs themselves.


def data_ready(name):
    """The file whose existence means set `name` is on disk, normalised and complete."""
    marker = "twin.json" if study.source == "synthetic" else ".fetched"
    return f"{ROOT}/{name}/{marker}"


def cache_index(name):
    return f"{ROOT}/_cache/{name}/index.json"


def eval_dir(run, name):
    return PATHS["eval"].format(run=run, set=name)


def summaries():
    """Every score the tables read: each (run, test set), and each test set's degraded input."""
    runs = [f"{eval_dir(r, s)}/summary.csv" for r, s in study.evaluations()]
    return runs + [f"{RESULTS}/eval/input/{s}/summary.csv" for s in study.test_sets]


TABLES = [f"table{i}" for i in range(1, 7)]
HEAT = study.config.get("heatmap")


def tables_outputs():
    out = [f"{PATHS['tables']}/{t}.{ext}" for t in TABLES for ext in ("csv", "md")]
    if HEAT and {"ablation-tiny-stochastic", "ablation-tiny-max"} <= set(study.runs):
        out.append(f"{PATHS['tables']}/fig6_heatmap.png")
    return out


def override_flag():
    path = study.config["data"].get("registry_override")
    return f"--registry-override {path}" if path else ""
