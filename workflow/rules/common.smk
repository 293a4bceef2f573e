# Helpers shared by the rules: wildcard constraints and input functions.
import functools
import json

wildcard_constraints:
    set="|".join(study.sets) or "NONE",
    run="|".join(study.runs) or "NONE",
    weights="|".join(r["weights"] for r in study.released) or "NONE",
    protocol="derain|gopro|realblur|prenet",
    # "input" is not a run: eval/input/<SET> holds the scores of the degraded inputs themselves.


def data_ready(name):
    """The file whose existence means set `name` is on disk, normalised and complete."""
    marker = "twin.json" if study.source == "synthetic" else ".fetched"
    return f"{ROOT}/{name}/{marker}"


@functools.cache
def run_config(run):
    """A training's resolved run config (the recipe's values and the run's own), as the train rule's params."""
    from hst.engine.config import load_config

    return load_config(study.runs[run].recipe, study.runs[run].train_args())


@functools.cache
def train_priority(run):
    """A training's scheduling priority: its rank by work, the longest the highest (1 ... number of runs)."""
    from hst.study.plan import training_work

    order = sorted(study.runs, key=lambda r: (training_work(study, r), r))
    return order.index(run) + 1


def data_priority(name):
    """A training set's data jobs come before every training (a priority does not pass to the jobs a job
    waits for: without this the longest training, ordered first, waited for its set behind the others)."""
    return 2 * len(study.runs) + 1 if name in study.train_sets else 0


def cache_index(name):
    return f"{ROOT}/_cache/{name}/index.json"


def eval_dir(run, name):
    return PATHS["eval"].format(run=run, set=name)


def released_summaries():
    """The scores of the released weights (released.evaluate), each under its protocols."""
    return [f"{PATHS['released_eval'].format(weights=r['weights'], set=r['set'], protocol=p)}/summary.csv"
            for r in study.released for p in r["protocols"]]


def summaries():
    """Every score the tables read: each (run, test set), each test set's degraded input, the released weights'."""
    runs = [f"{eval_dir(r, s)}/summary.csv" for r, s in study.evaluations()]
    return runs + [f"{RESULTS}/eval/input/{s}/summary.csv" for s in study.test_sets] + released_summaries()


TABLES = [f"table{i}" for i in range(1, 7)] + (["released"] if study.released else [])
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
