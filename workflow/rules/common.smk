# Helpers shared by the rules: wildcard constraints and input functions.
import functools
import json

wildcard_constraints:
    set="|".join(study.sets) or "NONE",
    run="|".join(study.runs) or "NONE",
    weights="|".join(r["weights"] for r in study.released) or "NONE",
    protocol="derain|gopro|realblur|prenet",
    table="table[1-6]|released",  # results.csv has a rule of its own
    # "input" is not a run: eval/input/<SET> holds the scores of the degraded inputs themselves.


def data_ready(name):
    """The file whose existence means set `name` is on disk, normalised and complete."""
    marker = "twin.json" if study.source == "synthetic" else ".fetched"
    return f"{ROOT}/{name}/{marker}"


def set_dir(ready):
    """A set's folder, from its data_ready() file (an input of the rule that reads the set)."""
    return os.path.dirname(ready)


def data_root(ready):
    """The data root (the study's data.root), from a set's data_ready() file."""
    return os.path.dirname(set_dir(ready))


# The resolved study (study.json): its runs, and what each output of `hst tables` reads ("reads").
DESCRIBED = study.describe()


@functools.cache
def train_ranks():
    """Each training's rank by work, the longest the highest (1 ... number of runs)."""
    from hst.study.plan import training_ranks

    return training_ranks(study)


def train_priority(run):
    """A training's priority: its rank (train_ranks) where Snakemake schedules; 0 in a job's own Snakemake (a
    cluster job), which runs that one job and orders nothing, so it does not build every model to rank them."""
    return train_ranks()[run] if workflow.is_main_process else 0


def data_priority(name):
    """A training set's data jobs come before every training (a priority does not pass to the jobs a job
    waits for: without this the longest training, ordered first, waited for its set behind the others)."""
    return 2 * len(study.runs) + 1 if name in study.train_sets else 0


def cache_index(name):
    return f"{ROOT}/_cache/{name}/index.json"


def eval_dir(run, name):
    return PATHS["eval"].format(run=run, set=name)


def released_summary(weights, name, protocol):
    return f"{PATHS['released_eval'].format(weights=weights, set=name, protocol=protocol)}/summary.csv"


def input_summary(name):
    """The scores of a test set's degraded inputs."""
    return f"{RESULTS}/eval/input/{name}/summary.csv"


def summaries():
    """Every score of the study: each (run, test set), each test set's degraded input, the released weights'."""
    runs = [f"{eval_dir(r, s)}/summary.csv" for r, s in study.evaluations()]
    released = [released_summary(r["weights"], r["set"], p) for r in study.released for p in r["protocols"]]
    return runs + [input_summary(s) for s in study.test_sets] + released


def reads(output):
    """The files one output of `hst tables` reads (a table, or "results"), from study.json's map
    (hst.study.layout.table_reads): its runs, their scores, the inputs' scores, check reports, Table 1's counts."""
    r = DESCRIBED["reads"][output]
    return ([f"{PATHS['run'].format(run=run)}/model.pt" for run in r["runs"]]  # run.json is written with it
            + [f"{eval_dir(run, s)}/summary.csv" for run, s in r["evaluations"]]
            + [input_summary(s) for s in r["inputs"]]
            + [PATHS["data_report"].format(set=s) for s in r["data"]]
            + ([PATHS["complexity"]] if r["complexity"] else [])
            + [released_summary(*x) for x in r["released"]])


TABLES = [t for t in DESCRIBED["reads"] if t != "results"]  # table1..6, and released with released.evaluate
HEAT = study.config.get("heatmap")
# Fig. 6 compares the stochastic sampler with max pooling: the first seed's run of each (None: not in this study).
HEAT_RUNS = study.heatmap_runs()


def tables_outputs():
    out = [f"{PATHS['tables']}/{t}.{ext}" for t in TABLES for ext in ("csv", "md")] + [f"{PATHS['tables']}/results.csv"]
    if HEAT_RUNS:
        out.append(f"{PATHS['tables']}/fig6_heatmap.png")
    if study.panel_evaluations():
        out.append(f"{PATHS['tables']}/fig7_visual.png")
    return out


REPORT = f"{RESULTS}/report"


def report_outputs():
    """The report's own pieces (the tables as HTML, the plots, the claims, the times)."""
    names = [f"{t}.html" for t in TABLES] + ["training_curves.png", "cost_quality.png", "psnr_per_image.png",
                                              "claims.html", "times.html"]
    return [f"{REPORT}/{n}" for n in names]


def provenance():
    """What the figures come from, for the report's captions: the data source and the recipe."""
    from hst.engine.config import load_config

    recipe = load_config(study.recipe)
    sched, data = recipe["schedule"], recipe["data"]
    length = f"{sched['iterations']} iterations" if sched["iterations"] else f"{sched['epochs']} epochs"
    if study.source == "synthetic":
        syn = study.config["data"]["synthetic"]
        source = (f"SYNTHETIC TWINS of the datasets (seed {syn['seed']}, {syn['test_count']} test pairs per set), "
                  "not the real sets; not comparable with published numbers")
    else:
        source = "the real datasets"
    return (f"{source}; recipe {study.recipe} ({length}, batch {recipe['optim']['batch_size']}, "
            f"{data['patch_size']}x{data['patch_size']} patches); study '{study.name}'")


PROVENANCE = provenance()


def override_flag():
    path = study.config["data"].get("registry_override")
    return f"--registry-override {path}" if path else ""
