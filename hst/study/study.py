"""The study: which trainings and evaluations regenerate the paper's tables (Sec. 4, Tables 1-6).

A study config (``config/*.yaml``, validated against :data:`SCHEMA`) names the data source,
the training recipe (an ``hst train`` run config), and the experiments. :class:`Study`
derives from it the training runs (each shared by every table that needs it, so it runs
once), the evaluations, and the protocol of each test set. The Snakefile and ``hst tables``
both read the study through this module, so they always agree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hst.data.registry import default_registry
from hst.data.weights import DEFAULT_PATH as WEIGHTS_REGISTRY
from hst.data.weights import load_weights_registry
from hst.engine.config import SAMPLING_POLICIES
from hst.engine.config import SCHEMA as RUN_SCHEMA
from hst.engine.config import build_config, load_config, read_yaml
from hst.errors import ConfigError
from hst.models import SAMPLERS, VARIANTS, model_label, model_options
from hst.schema import read_yaml as read_yaml_file
from hst.schema import validate, yaml12_scalars
from hst.study.layout import (EXPERIMENT_OUTPUTS, FIG6_SAMPLERS, OUTPUTS, PANEL_EXPERIMENTS, REFERENCE, TABLES, table_reads,
                              table_rows)

# The datasets as hst/data/registry.yaml has them: every set, and how each test set is scored.
_REGISTRY = default_registry()
SETS = list(_REGISTRY.sets)
PROTOCOL = _REGISTRY.protocols()

# Run-config keys that an experiment's ``overrides`` may not set: each is set by the study itself
# (the run's name, data, seed or resources), so an override would train or run something other
# than the run's name and the pipeline's inputs say. Value: where the study sets it instead.
IDENTITY_KEYS = {
    "model.arch": "a model's recipe says its architecture: add the model under experiments.{exp}.baselines",
    "model.variant": "the run's name says its variant: set experiments.{exp}.{variants}",
    "model.sampler": "the run's name says its sampler: {samplers}",
    "seed": "the run's name says its seed: set experiments.{exp}.seeds",
    "data.train_set": "the run trains on experiments.{exp}.train_set",
    "data.cache_dir": "the run trains from the pipeline's patch cache of experiments.{exp}.train_set",
    "device": "the pipeline asks the scheduler for a GPU from the recipe's device: set it in the recipe",
    "threads": "the pipeline sets a training's threads from train_threads (or a profile's set-threads)",
}


# The study schema is the workflow's (as snakemake-workflows keep theirs): YAML under workflow/schemas/,
# read from the repository (an editable install). Its names of sets, variants, samplers and sampling
# policies come from their registries when it is loaded (`x-enum: NAME`), so each stays in one home.
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "study.schema.yaml"
SCHEMA_ENUMS: dict[str, list[str]] = {"sets": SETS, "test_sets": sorted(PROTOCOL), "variants": list(VARIANTS),
                                      "samplers": list(SAMPLERS), "sampling_policies": list(SAMPLING_POLICIES)}


def _fill_enums(node: Any) -> Any:
    """The schema with each ``x-enum: NAME`` node given ``enum: SCHEMA_ENUMS[NAME]`` (a copy: YAML aliases share nodes)."""
    if isinstance(node, list):
        return [_fill_enums(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _fill_enums(v) for k, v in node.items() if k != "x-enum"}
    if "x-enum" in node:
        out["enum"] = list(SCHEMA_ENUMS[node["x-enum"]])
    return out


SCHEMA: dict[str, Any] = _fill_enums(read_yaml_file(SCHEMA_PATH, "study schema"))


@dataclass(frozen=True)
class Run:
    """One training: its name, training set, model options, recipe overrides and seed.

    ``group`` names the configuration without the seed (``ablation-tiny-max``, ``derain-prenet``); a run
    of an experiment that lists several seeds is named ``<group>-s<seed>``, otherwise ``<group>``.
    ``seed`` None means the recipe's own seed. An HST run has a ``variant`` and a ``sampler``; a
    baseline's run (``baseline``: its name in the experiment) has neither, its recipe says its model."""

    name: str
    experiment: str
    train_set: str
    variant: str
    sampler: str
    overrides: dict[str, Any] = field(default_factory=dict)
    test_sets: tuple[str, ...] = ()
    group: str = ""
    seed: int | None = None
    recipe: str = ""
    baseline: str | None = None

    def train_args(self) -> list[str]:
        """The ``--set`` arguments of ``hst train`` for this run (recipe file aside)."""
        values = {} if self.baseline else {"model.variant": self.variant, "model.sampler": self.sampler}
        values |= self.overrides
        if self.seed is not None:
            values["seed"] = self.seed
        return [f"{k}={json.dumps(v)}" for k, v in values.items()]


class Study:
    """A validated study config and what it implies: runs, evaluations, protocols, paths."""

    def __init__(self, config: dict[str, Any], source: str = "config") -> None:
        config = yaml12_scalars(config)  # Snakemake reads a --configfile as YAML 1.1: 3e-4 is a number here too
        validate(config, SCHEMA, source)
        if config["data"]["source"] == "synthetic" and "synthetic" not in config["data"]:
            raise ConfigError(f"{source}: data.synthetic: required when data.source is synthetic")
        if not config["experiments"]:
            raise ConfigError(f"{source}: experiments: name at least one of derain, deblur, ablation")
        for experiment, e in config["experiments"].items():
            check_overrides(experiment, e.get("overrides", {}), source)
            for name, b in e.get("baselines", {}).items():
                check_overrides(experiment, b.get("overrides", {}), source, f"baselines.{name}.overrides")
        self.config = config
        self.name = config["name"]
        self.source = config["data"]["source"]
        self.root = config["data"]["root"]
        self.results = config["results"]
        self.recipe = config["recipe"]
        self.runs = self._runs(config["experiments"], self.recipe)
        self._released = self._check_released(config.get("released"), source)
        self._run_configs: dict[str, dict[str, Any]] = {}

    def check_recipe(self) -> None:
        """Each experiment's overrides applied to the recipe make a valid run config (cross-key checks
        such as ``optim.lr_min`` <= ``optim.lr``); a ConfigError naming the experiment otherwise."""
        checked = set()
        for run in self.runs.values():
            where = (f"experiments.{run.experiment}.baselines.{run.baseline} (and experiments.{run.experiment}.overrides)"
                     if run.baseline else f"experiments.{run.experiment}.overrides")
            if where in checked:
                continue
            checked.add(where)
            try:
                build_config(read_yaml(run.recipe), ["data.train_set=check", *run.train_args()])
            except ConfigError as exc:
                raise ConfigError(f"{run.recipe} with {where}: {exc}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> "Study":
        """Read and validate a study YAML file."""
        return cls(read_yaml_file(path, "study"), str(path))

    @staticmethod
    def _runs(experiments: dict[str, Any], recipe: str) -> dict[str, Run]:
        runs: dict[str, Run] = {}

        def add(experiment: str, e: dict[str, Any], group: str, variant: str, sampler: str,
                baseline: str | None = None) -> None:
            overrides, run_recipe, seeds = dict(e.get("overrides", {})), recipe, e.get("seeds", [None])
            if baseline is not None:  # the experiment's budget, not HST's model options; then its own
                b = e["baselines"][baseline]
                overrides = {k: v for k, v in overrides.items() if not k.startswith("model.")} | b.get("overrides", {})
                run_recipe, seeds = b["recipe"], b.get("seeds", seeds)
            for seed in seeds:
                name = group if len(seeds) == 1 else f"{group}-s{seed}"
                run = Run(name, experiment, e["train_set"], variant, sampler, overrides,
                          tuple(e["test_sets"]), group, seed, run_recipe, baseline)
                if name in runs:  # shared by two tables: train once, evaluate on the union of sets
                    old = runs[name]
                    run = Run(**{**old.__dict__, "test_sets": tuple(dict.fromkeys(old.test_sets + run.test_sets))})
                runs[name] = run

        for key in ("derain", "deblur"):
            if key in experiments:
                e = experiments[key]
                add(key, e, f"{key}-{e['variant']}", e["variant"], "stochastic")
        if "ablation" in experiments:
            e = experiments["ablation"]
            combos = [(v, "stochastic") for v in e["variants"]] + [("tiny", s) for s in e["samplers"]]
            for variant, sampler in dict.fromkeys(combos):
                add("ablation", e, f"ablation-{variant}-{sampler}", variant, sampler)
        for key, e in experiments.items():
            for baseline in e.get("baselines", {}):
                add(key, e, f"{key}-{baseline}", "", "", baseline)
        return runs

    @staticmethod
    def _check_released(section: dict[str, Any] | None, source: str) -> list[dict[str, Any]]:
        """The released weights to score, each with its protocols: its authors' (of their published figure on
        that set, else of their first) and the table's; a ConfigError naming an unknown weight."""
        if not section:
            return []
        registry = load_weights_registry(section.get("registry") or WEIGHTS_REGISTRY)
        out = []
        for i, item in enumerate(section["evaluate"]):
            if item["weights"] not in registry:
                raise ConfigError(f"{source}: released.evaluate.{i}.weights: {item['weights']!r} is not in the weights "
                                  f"registry ({', '.join(registry)})")
            w = registry[item["weights"]]
            published = next((p for p in w.published if p["set"] == item["set"]), None)
            own = (published or (w.published[0] if w.published else {})).get("protocol", PROTOCOL[item["set"]])
            out.append({"weights": w.name, "set": item["set"], "arch": w.arch, "trained_on": w.trained_on,
                        "published": published, "own_protocol": own, "table_protocol": PROTOCOL[item["set"]],
                        "protocols": list(dict.fromkeys([own, PROTOCOL[item["set"]]]))})
        return out

    @property
    def released(self) -> list[dict[str, Any]]:
        """Released weights scored on a test set (``released.evaluate``), with their protocols and published figure."""
        return self._released

    def released_registry(self) -> str:
        return (self.config.get("released") or {}).get("registry") or str(WEIGHTS_REGISTRY)

    def heatmap_runs(self) -> tuple[str, str] | None:
        """Fig. 6's two runs: the first seed's ablation HST-tiny with the stochastic and with the max
        sampler; None when the study has no heatmap section or not both runs."""
        runs = [next((n for n, r in self.runs.items() if r.experiment == "ablation" and not r.baseline
                      and r.variant == REFERENCE["variant"] and r.sampler == sampler), None)
                for sampler in FIG6_SAMPLERS]
        return None if "heatmap" not in self.config or None in runs else (runs[0], runs[1])

    def left_out(self) -> list[str]:
        """What the paper's tables and figures have that this study does not (empty for the full study)."""
        ex, out = self.config["experiments"], []
        for experiment, what in EXPERIMENT_OUTPUTS.items():
            if experiment not in ex:
                out.append(f"the {experiment} experiment ({what})")
        for spec in (t for t in TABLES.values() if "task" in t):
            experiment = spec["experiment"]
            missing = [s for s in _REGISTRY.test_sets(spec["task"]) if experiment in ex and s not in ex[experiment]["test_sets"]]
            if missing:
                out.append(f"{spec['name']}'s {', '.join(missing)} (experiments.{experiment}.test_sets)")
        if "ablation" in ex:
            a = ex["ablation"]
            variants = [v for v in VARIANTS if v not in a["variants"]]
            if variants:
                out.append(f"Table 5's {', '.join(model_label({'arch': 'hst', 'variant': v}) for v in variants)} "
                           "(experiments.ablation.variants)")
            samplers = [s for s in SAMPLERS if s not in a["samplers"]
                        and (s != REFERENCE["sampler"] or REFERENCE["variant"] not in a["variants"])]
            if samplers:
                out.append(f"Table 6's {', '.join(samplers)} sampler{'s' if len(samplers) > 1 else ''} "
                           "(experiments.ablation.samplers)")
            if self.heatmap_runs() is None:
                out.append("Fig. 6 (needs a heatmap section and the ablation's HST-tiny with the stochastic and the max sampler)")
        return out

    def panel_evaluations(self) -> list[tuple[str, str]]:
        """(run, test set) of Figs. 7-8's panels: every test set of the first run of each of the derain and
        deblur experiments."""
        out = []
        for experiment in PANEL_EXPERIMENTS:
            runs = [r for r in self.runs.values() if r.experiment == experiment]
            if runs:
                out += [(runs[0].name, s) for s in runs[0].test_sets]
        return out

    def group_runs(self, group: str) -> list[str]:
        """The runs of one configuration (one per seed), in seed order as listed."""
        return [name for name, run in self.runs.items() if run.group == group]

    @property
    def device(self) -> str:
        """The recipe's device ('auto', 'cpu' or 'cuda'): trainings ask the scheduler for a GPU on 'cuda'."""
        return load_config(self.recipe)["device"]

    def run_device(self, run: str) -> str:
        """The device of one run's recipe (a baseline's recipe is its own)."""
        return load_config(self.runs[run].recipe)["device"]

    def run_config(self, run: str) -> dict[str, Any]:
        """A training's resolved run config: its recipe's values and the run's own (read once per run)."""
        if run not in self._run_configs:
            self._run_configs[run] = load_config(self.runs[run].recipe, self.runs[run].train_args())
        return self._run_configs[run]

    def run_model(self, run: str) -> dict[str, Any]:
        """A run's resolved ``model`` section (its recipe's, with the run's variant and sampler)."""
        return self.run_config(run)["model"]

    def model_label(self, run: str) -> str:
        """How the tables name a run's model: 'HST-tiny', 'HST-tiny (max sampler)', 'PReNet'."""
        return model_label(self.run_model(run))

    # -- what the pipeline builds ------------------------------------------------------
    @property
    def train_sets(self) -> list[str]:
        return list(dict.fromkeys(r.train_set for r in self.runs.values()))

    @property
    def test_sets(self) -> list[str]:
        return list(dict.fromkeys([*(s for r in self.runs.values() for s in r.test_sets), *(r["set"] for r in self.released)]))

    @property
    def sets(self) -> list[str]:
        return list(dict.fromkeys(self.train_sets + self.test_sets))

    def evaluations(self) -> list[tuple[str, str]]:
        """Every (run, test set) pair to restore and score."""
        return [(r.name, s) for r in self.runs.values() for s in r.test_sets]

    @staticmethod
    def protocol(test_set: str) -> str:
        """How a test set is scored (hst/data/registry.yaml)."""
        return PROTOCOL[test_set]

    def synth_args(self, name: str) -> list[str]:
        """``hst data synth`` options for a set of this (synthetic) study."""
        syn = self.config["data"]["synthetic"]
        split = "train" if name in self.train_sets else "test"
        size = syn[f"{split}_size"]
        size = f"{size[0]}x{size[1]}" if isinstance(size, list) else str(size)
        return ["--count", str(syn[f"{split}_count"]), "--size", size, "--seed", str(syn["seed"])]

    def paths(self) -> dict[str, str]:
        r = self.results
        return {
            "run": f"{r}/runs/{{run}}",
            "eval": f"{r}/eval/{{run}}/{{set}}",
            "data_report": f"{r}/data/{{set}}.json",
            "complexity": f"{r}/complexity/complexity.csv",
            "tables": f"{r}/tables",
            "study": f"{r}/study.json",
            "released_model": f"{r}/released/{{weights}}/model.pt",
            "released_eval": f"{r}/released/{{weights}}/{{set}}/{{protocol}}",
        }

    def describe(self) -> dict[str, Any]:
        """The resolved study, saved beside the results as ``study.json``: the config; every run with the
        fields the tables select by (experiment, group, arch, variant, sampler, baseline, seed) and its
        model's label and its resolved run config; the sets' tasks, protocols and table labels; each table's
        layout and what each output of ``hst tables`` reads (``reads``: :mod:`hst.study.layout`, by which the
        pipeline has a rule per table); and what the study leaves out of the paper's tables."""
        runs = {}
        for n, r in self.runs.items():
            arch, options = model_options(self.run_model(n))
            runs[n] = {"experiment": r.experiment, "group": r.group, "seed": r.seed, "train_set": r.train_set,
                       "arch": arch, "variant": r.variant, "sampler": r.sampler, "overrides": r.overrides,
                       "test_sets": list(r.test_sets), "recipe": r.recipe, "baseline": r.baseline,
                       "model": model_label({"arch": arch, **options}), "config": self.run_config(n)}
        sets = {s.name: {"task": s.task, "split": s.split, "protocol": s.protocol, "label": s.table_label}
                for s in _REGISTRY.sets.values()}
        outputs = [t for t in OUTPUTS if t != "released" or self.released]
        return {"config": self.config, "released": self.released, "runs": runs, "sets": sets,
                "tables": {t: table_rows(runs, t) for t in TABLES},
                "reads": {t: table_reads(runs, sets, self.released, t) for t in outputs},
                "left_out": self.left_out(), "panels": [list(p) for p in self.panel_evaluations()]}


def _leaves_only(schema: dict[str, Any]) -> dict[str, Any]:
    """The run-config schema with nothing required: a few dotted keys validate on their own."""
    out = {k: v for k, v in schema.items() if k != "required"}
    if "properties" in schema:
        out["properties"] = {k: _leaves_only(v) for k, v in schema["properties"].items()}
    return out


def check_overrides(experiment: str, overrides: dict[str, Any], source: str = "config", field: str = "overrides") -> None:
    """An experiment's (or a baseline's) overrides: each dotted key a value of the run-config schema
    (hst.engine.config.SCHEMA), none of :data:`IDENTITY_KEYS`; a one-line ConfigError naming the experiment and
    the key otherwise."""
    where = f"{source}: experiments.{experiment}.{field}"
    schema, nested = _leaves_only(RUN_SCHEMA), {}
    for key, value in overrides.items():
        path = key.split(".") if isinstance(key, str) else [""]
        if not all(path):
            raise ConfigError(f"{where}: {key!r}: expected a dotted run-config key, e.g. schedule.iterations")
        if key in IDENTITY_KEYS:
            variants = "variants" if experiment == "ablation" else "variant"
            samplers = ("set experiments.ablation.samplers" if experiment == "ablation"
                        else f"the {experiment} experiment trains the stochastic sampler; the sampler ablation is experiments.ablation")
            hint = IDENTITY_KEYS[key].format(exp=experiment, variants=variants, samplers=samplers)
            raise ConfigError(f"{where}.{key}: not allowed in overrides: the study sets it ({hint})")
        node = RUN_SCHEMA
        for part in path:
            node = node.get("properties", {}).get(part, {})
        if "properties" in node:
            raise ConfigError(f"{where}.{key}: is a section; set its keys one by one "
                              f"(e.g. {key}.{next(iter(node['properties']))})")
        target = nested
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    try:
        validate(nested, schema)
    except ConfigError as exc:
        raise ConfigError(f"{where}.{exc}") from None
