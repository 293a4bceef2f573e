"""What the paper's study holds (Sec. 4): which experiment fills which table, and which of its
configurations each table compares.

A study resolves this map against its runs (:meth:`hst.study.Study.describe`, written to
``study.json``), so the tables and the report select their rows by it: by the runs' experiment,
variant, sampler and baseline fields, never by parsing a run's name or a model's label. It also says
what each output of ``hst tables`` reads (:func:`table_reads`), by which the pipeline has a rule per
table whose inputs are that table's runs and scores alone.
"""

from __future__ import annotations

from typing import Any

from hst.models import DEFAULT_VARIANT, SAMPLERS, VARIANTS, model_label

PAPER_ARCH = "hst"  # the paper's model: the ablation's variants and samplers are its options

# Figs. 7-8: crops of every test set of the first run of these experiments.
PANEL_EXPERIMENTS = ("derain", "deblur")
# Fig. 6: where the stochastic sampler and max pooling pick their elements (Sec. 4.4.2).
FIG6_SAMPLERS = (SAMPLERS[0], "max")
# Which table (and figure) each experiment fills: what a study that leaves it out does not have.
EXPERIMENT_OUTPUTS = {"derain": "Table 3 and the deraining panels of Figs. 7-8",
                      "deblur": "Table 4 and the deblurring panels of Figs. 7-8", "ablation": "Tables 5 and 6, Fig. 6"}
# The configuration the ablation compares every other one with (Tables 5 and 6): HST-tiny with the
# paper's stochastic sampler.
REFERENCE = {"variant": DEFAULT_VARIANT, "sampler": SAMPLERS[0]}
# The tables of trained runs. Tables 3 and 4: every configuration of their experiment, one column pair
# per test set of their task (the registry's order). Table 5: every variant with the paper's sampler,
# and the models retrained beside them; Table 6: every sampler of the default variant. ``field`` is the
# study key that adds a configuration the study lacks.
TABLES: dict[str, dict[str, Any]] = {
    "table3": {"experiment": "derain", "task": "derain", "name": "Table 3"},
    "table4": {"experiment": "deblur", "task": "deblur", "name": "Table 4"},
    "table5": {"experiment": "ablation", "name": "Table 5", "field": "experiments.ablation.variants", "baselines": True,
               "configs": [{"variant": v, "sampler": SAMPLERS[0]} for v in VARIANTS]},
    "table6": {"experiment": "ablation", "name": "Table 6", "field": "experiments.ablation.samplers", "baselines": False,
               "configs": [{"variant": DEFAULT_VARIANT, "sampler": s} for s in SAMPLERS]},
}


def _group_of(runs: dict[str, dict[str, Any]], experiment: str, **fields: Any) -> str | None:
    """The group of the experiment's HST runs with these fields (variant, sampler), if the study has it."""
    return next((r["group"] for r in runs.values() if r["experiment"] == experiment and not r["baseline"]
                 and all(r[k] == v for k, v in fields.items())), None)


def table_rows(runs: dict[str, dict[str, Any]], table: str) -> dict[str, Any]:
    """One table's resolved layout for a study's runs (``Study.describe()['runs']``): its experiment, its
    configurations in table order (``group``: the runs' group, None when the study lacks it) and, for the
    ablation tables, the reference configuration's group."""
    spec = TABLES[table]
    experiment = spec["experiment"]
    groups = list(dict.fromkeys(r["group"] for r in runs.values() if r["experiment"] == experiment))
    out: dict[str, Any] = {"experiment": experiment, "name": spec["name"]}
    if "configs" not in spec:  # Tables 3 and 4: every configuration of the experiment, in study order
        out["task"] = spec["task"]
        out["configs"] = [{"group": g} for g in groups]
        return out
    configs = [{**c, "label": model_label({"arch": PAPER_ARCH, "variant": c["variant"]}),
                "group": _group_of(runs, experiment, **c)} for c in spec["configs"]]
    if spec["baselines"]:
        configs += [{"baseline": r["baseline"], "group": g} for g in groups
                    for r in [next(r for r in runs.values() if r["group"] == g)] if r["baseline"]]
    out |= {"field": spec["field"], "configs": configs, "reference": _group_of(runs, experiment, **REFERENCE)}
    return out


# What `hst tables` writes, one output per name (the pipeline's rule per table), in the order it writes them:
# Tables 1-6, the released weights' table (a study with released.evaluate), and results.csv.
OUTPUTS = ("table1", "table2", "table3", "table4", "table5", "table6", "released", "results")


def table_reads(runs: dict[str, dict[str, Any]], sets: dict[str, dict[str, Any]], released: list[dict[str, Any]],
                table: str) -> dict[str, Any]:
    """What one output of ``hst tables`` reads besides ``study.json`` and the published numbers, for a study's runs,
    sets and released weights (``Study.describe()``'s): ``runs`` (their ``run.json``), ``evaluations`` (run, test set:
    its ``summary.csv``), ``inputs`` (test sets whose degraded inputs' scores it reads), ``data`` (sets whose check
    report it reads), ``complexity`` (Table 1's counts) and ``released`` (weights, set, protocol: its scores).
    The pipeline makes each output from these alone, so Table 6 waits for the ablation's sampler runs only;
    ``results`` (every number of the tables) reads everything."""
    out: dict[str, Any] = {"runs": [], "evaluations": [], "inputs": [], "data": [], "complexity": table == "table1",
                           "released": []}
    if table == "table2":  # the check report of every set the study's runs train or test on
        out["data"] = list(dict.fromkeys(s for r in runs.values() for s in [r["train_set"], *r["test_sets"]]))
        return out
    if table in ("released", "results"):
        out["released"] = [[r["weights"], r["set"], p] for r in released for p in r["protocols"]]
    if table in TABLES:
        spec = TABLES[table]
        experiment = spec["experiment"]
        if "configs" in spec:  # Tables 5 and 6: the runs of the configurations they compare
            groups = {c["group"] for c in table_rows(runs, table)["configs"] if c["group"]}
            names = [n for n, r in runs.items() if r["experiment"] == experiment and r["group"] in groups]
            columns = None
        else:  # Tables 3 and 4: every run of the experiment, on the test sets of the table's task
            names = [n for n, r in runs.items() if r["experiment"] == experiment]
            columns = {s for s, v in sets.items() if v["task"] == spec["task"] and v["split"] == "test"}
    elif table == "results":
        names, columns = list(runs), None
    else:  # Table 1, the released weights' table: no training
        return out
    out["runs"] = names
    out["evaluations"] = [[n, s] for n in names for s in runs[n]["test_sets"] if columns is None or s in columns]
    out["inputs"] = list(dict.fromkeys(s for _, s in out["evaluations"]))
    return out
