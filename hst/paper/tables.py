"""The paper's Tables 1-6 from per-run CSVs: a cheap last stage that trains and scores nothing.

Reads what the pipeline wrote under the study's results folder (``study.json``,
``complexity/complexity.csv``, ``data/<SET>.json``, ``runs/<RUN>/run.json`` and
``eval/<RUN>/<SET>/summary.csv``) and the published numbers in ``baselines/``, and writes
``table1..6.csv`` and ``.md`` and ``results.csv``; ``--only NAME`` writes one of them from what it reads
(study.json's ``reads``: the pipeline's rule per table). Every table starts with header lines naming the data source,
the recipe, the commit and the device, so a table made on synthetic twins cannot pass for one
made on the real sets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from hst.data.registry import load_registry
from hst.envinfo import git_commit
from hst.models import VARIANTS
from hst.study.layout import OUTPUTS, PAPER_ARCH
from hst.errors import DataError
from hst.fsutil import atomic_write_text
from hst.metrics.stats import Interval, mean_ci, paired_difference, verdict
# Claims of the paper's text that the tables check (Sec. 1, 4.2, 4.4.1), defined in hst.paper.claims.
from hst.paper.claims import AVG_GAIN as PAPER_AVG_GAIN
from hst.paper.claims import BEST_BASELINE as PAPER_BEST_BASELINE
from hst.paper.claims import PARAM_REDUCTION as PAPER_PARAM_REDUCTION
from hst.paper.claims import TIME_REDUCTION as PAPER_TIME_REDUCTION
from hst.options import add_out

# The repository's baselines/ (an editable install); `hst tables --baselines DIR` points elsewhere.
BASELINES = Path(__file__).resolve().parents[2] / "baselines"
# How a table says what the study left out (the report's claims page says the same).
NOT_IN_STUDY = "not in this study"


def read_json(path: str | Path) -> Any:
    """A JSON file the pipeline wrote; a missing or broken one is a DataError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: missing (run the pipeline stage that writes it)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({exc})") from None


def read_csv(path: str | Path, sep: str = ",") -> pd.DataFrame:
    """A CSV the pipeline wrote (``#`` lines skipped); a missing or broken one is a DataError naming it."""
    try:
        return pd.read_csv(path, comment="#", sep=sep)
    except FileNotFoundError:
        raise DataError(f"{path}: missing (run the pipeline stage that writes it)") from None
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{path}: unreadable CSV ({exc})") from None


def table_sets(study: dict[str, Any], table: str) -> dict[str, str]:
    """The test sets that are a table's columns, from a study.json: its task's test sets in registry order,
    ``{set: its label in the tables}``."""
    task = study["tables"][table]["task"]
    return {name: s["label"] for name, s in study["sets"].items() if s["task"] == task and s["split"] == "test"}


class Results:
    """Everything one study wrote, read once."""

    def __init__(self, study_json: str | Path, baselines: str | Path = BASELINES, output: str | None = None) -> None:
        """``output``: read only the run records that this output of ``hst tables`` reads (study.json's
        ``reads``, :func:`hst.study.layout.table_reads`); None: every run's."""
        self.study_path = Path(study_json)
        self.baselines = Path(baselines)
        study = read_json(self.study_path)
        self.study = study
        self.config, self.runs = study["config"], study["runs"]
        self.root = self.study_path.parent
        names = self.runs if output is None else study["reads"][output]["runs"]
        self.run_records = {name: read_json(self.root / "runs" / name / "run.json") for name in names}

    @property
    def real(self) -> bool:
        """True when the study scored the real sets (its numbers may then be set against published ones)."""
        return self.config["data"]["source"] == "real"

    def left_out(self) -> list[str]:
        """What the paper's tables and figures have that this study does not (study.json, from
        :meth:`hst.study.Study.left_out`)."""
        return self.study["left_out"]

    def table_sets(self, table: str) -> dict[str, str]:
        """The test sets that are a table's columns (:func:`table_sets`): ``{set: label}``."""
        return table_sets(self.study, table)

    def layout(self, table: str) -> dict[str, Any]:
        """A table's configurations and reference as the study resolved them (hst.study.layout)."""
        return self.study["tables"][table]

    def is_baseline(self, run: str) -> bool:
        return bool(self.runs[run].get("baseline"))

    def experiment_note(self, experiment: str, table: str) -> list[str]:
        """A note for a table whose experiment the study does not have; empty when it has it."""
        if experiment in self.config["experiments"]:
            return []
        return [f"{NOT_IN_STUDY}: the study has no {experiment} experiment (experiments.{experiment}), "
                f"so {table} holds none of this harness's rows."]

    def summary(self, run: str, test_set: str) -> dict[str, Any]:
        return read_csv(self.root / "eval" / run / test_set / "summary.csv").iloc[0].to_dict()

    def groups(self, experiment: str) -> dict[str, list[str]]:
        """The experiment's configurations (group name -> its runs, one per seed), in study order."""
        out: dict[str, list[str]] = {}
        for name, run in self.runs.items():
            if run.get("experiment", name.split("-")[0]) == experiment:
                out.setdefault(run.get("group") or name, []).append(name)
        return out

    def seed(self, run: str) -> int:
        """The seed a run trained with (its record's resolved config)."""
        return int(self.run_records[run]["seed"])

    def by_seed(self, runs: list[str], test_set: str, metric: str) -> dict[int, float]:
        """{seed: metric} of one configuration's runs on one test set."""
        return {self.seed(r): float(self.summary(r, test_set)[metric]) for r in runs}

    def header(self) -> list[str]:
        """Lines naming the data source, the recipe, the commit and the device."""
        data = self.config["data"]
        if data["source"] == "synthetic":
            syn = data["synthetic"]
            source = (f"SYNTHETIC TWINS of the datasets (seed {syn['seed']}, {syn['train_count']} training and "
                      f"{syn['test_count']} test pairs per set, {syn['train_size']} / {syn['test_size']} px), "
                      "not the real sets: these numbers are not comparable with published ones")
        else:
            source = "the real datasets (see Table 2 for the pairs found)"
        recipes, devices, commits = set(), set(), set()
        for name, record in self.run_records.items():
            recipes.add(_recipe_text(record["config"], self.runs[name]))
            env = record.get("environment", {})
            dev = env.get("device", {})
            devices.add(f"{dev.get('gpu') or dev.get('cpu', '?')} ({dev.get('type', '?')}, {dev.get('torch_threads', '?')} threads)")
            commits.add(_commit_text(env.get("git", {})))
        # Threads set for the trainings elsewhere than the study (a profile's set-threads): said here.
        asked = self.config.get("train_threads")
        other = sorted({r["config"].get("threads") for r in self.run_records.values()} - {None, asked})
        threads = (f"; trainings used {', '.join(map(str, other))} threads, not the study's train_threads {asked}"
                   " (set by the profile or command line)" if asked is not None and other else "")
        left_out = self.left_out()
        paper = "250 epochs, batch 32, 128x128 patches, lr 0.0003 cosine"
        # A table that reads no training (Tables 1, 2) names the study's recipes, as study.json resolved them.
        study_recipes = {_recipe_text(run["config"], run) for run in self.runs.values() if "config" in run}
        recipe = "; ".join(sorted(recipes or study_recipes)) or "no training"
        if (recipes or study_recipes) and not recipe.startswith(paper):
            recipe += f" (REDUCED; the paper: {paper})"
        if not recipes and study_recipes:
            recipe = f"the study's (this table reads no training): {recipe}"
        return [
            f"study: {self.config['name']}",
            f"data: {source}",
            f"recipe: {recipe}",
            f"training commit: {', '.join(sorted(commits)) or '-'}; tables commit: {_commit_text(git_commit())}",
            f"device: {', '.join(sorted(devices)) or '-'}{threads}",
            f"inference sampling: {self.config['evaluation']['sampling']}, seed {self.config['evaluation']['seed']}",
            *([f"{NOT_IN_STUDY}: {'; '.join(left_out)}"] if left_out else []),
        ]


def _recipe_text(cfg: dict[str, Any], run: dict[str, Any]) -> str:
    """One run config's training budget and optimiser in a few words (a baseline's prefixed by its model)."""
    length = (f"{cfg['schedule']['iterations']} iterations" if cfg["schedule"]["iterations"]
              else f"{cfg['schedule']['epochs']} epochs")
    optim = cfg["optim"]
    if optim.get("decay", "cosine") == "step":
        decay = f"x{optim['gamma']:g} at {'/'.join(f'{100 * m:g}' for m in optim['milestones'])}% of the run"
    else:
        decay = f"cosine to {optim['lr_min']:g}"
    text = (f"{length}, batch {optim['batch_size']}, {cfg['data']['patch_size']}x{cfg['data']['patch_size']} patches, "
            f"lr {optim['lr']:g} {decay}")
    if run.get("baseline"):
        text = f"{run.get('model', run['baseline'])} (retrained here): {text}, loss {cfg.get('loss', {}).get('name', '?')}"
    return text


def _commit_text(git: dict[str, Any]) -> str:
    commit = git.get("commit")
    return "?" if not commit else commit[:12] + (" (with uncommitted changes)" if git.get("dirty") else "")


def _fmt(df: pd.DataFrame, digits: dict[str, int]) -> pd.DataFrame:
    """Floats as text with the digits of the longest prefix of ``digits`` that starts the column's name."""
    out = df.copy()
    for col in out.columns:
        prefixes = [p for p in digits if col.startswith(p)]
        if prefixes:
            d = digits[max(prefixes, key=len)]
            out[col] = out[col].map(lambda v, d=d: "" if pd.isna(v) else (f"{v:.{d}f}" if isinstance(v, float) else v))
    return out


def write_table(out: Path, name: str, title: str, header: list[str], df: pd.DataFrame, notes: list[str],
                md_df: pd.DataFrame | None = None) -> None:
    """``name``.csv (header and notes as # lines) and ``name``.md, each written atomically; ``md_df``, when
    given, is what the Markdown shows (the CSV keeps every row, per-seed rows included)."""
    blank = lambda frame: frame.astype(object).where(frame.notna(), "")  # noqa: E731 - an empty cell, not "nan"
    df = blank(df)
    md_df = df if md_df is None else blank(md_df)
    comment = "".join(f"# {line}\n" for line in [title, *header, *notes])
    atomic_write_text(out / f"{name}.csv", comment + df.to_csv(index=False))
    md = [f"## {title}", "", *(f"> {line}  " for line in header), "", md_df.to_markdown(index=False), ""]
    md += [f"- {n}" for n in notes]
    atomic_write_text(out / f"{name}.md", "\n".join(md).rstrip() + "\n")


def table1(res: Results) -> tuple[pd.DataFrame, list[str], None]:
    ours = read_csv(res.root / "complexity" / "complexity.csv")
    ours.insert(0, "source", "this harness (fvcore MACs)")
    pub = read_csv(res.baselines / "complexity_published.csv").rename(columns={"method": "model"})
    pub.insert(0, "source", "published / counted from official code")
    df = pd.concat([ours, pub], ignore_index=True)
    # The paper's claim: its model's first variant (HST-tiny) against its last (HST-double).
    paper = ours[ours.arch == PAPER_ARCH]
    tiny, double = (paper.loc[paper.variant == v, "params"] for v in (list(VARIANTS)[0], list(VARIANTS)[-1]))
    notes = ["MACs: one per multiply-add (fvcore's convention; FLOPs = 2 x MACs), attention matmuls included, "
             "element-wise ops not counted (listed in skipped_ops)."]
    if len(tiny) and len(double):
        red = 100 * (1 - tiny.iloc[0] / double.iloc[0])
        names = [paper.loc[paper.variant == v, "model"].iloc[0] for v in (list(VARIANTS)[0], list(VARIANTS)[-1])]
        notes.append(f"{names[0]} has {red:.1f}% fewer parameters than {names[1]} (paper claims {PAPER_PARAM_REDUCTION}%).")
    return _fmt(df, {"gmacs": 3}), notes, None


def table2(res: Results) -> tuple[pd.DataFrame, list[str], None]:
    registry = load_registry(res.config["data"].get("registry_override"))
    rows = []
    # The study's sets only: a set an edit removed keeps its old check report on disk, not in the table.
    for name in dict.fromkeys(s for r in res.runs.values() for s in [r["train_set"], *r["test_sets"]]):
        report = read_json(res.root / "data" / f"{name}.json")[0]
        entry = registry.get(name)
        rows.append({"set": name, "task": entry.task, "split": entry.split, "pairs (real set)": entry.pairs,
                     "pairs expected here": report["expected"], "pairs found": report["pairs"],
                     "problems": len(report["problems"]), "ok": report["ok"]})
    order = {s: i for i, s in enumerate(registry.sets)}
    df = pd.DataFrame(rows).sort_values("set", key=lambda s: s.map(order)).reset_index(drop=True)
    notes = ["pairs (real set): what the standard downloads hold (datasets.md); the paper's Table 2 says 13,712 for "
             "Rain13K and 100 for Test100, the copies hold 13,711 and 98."]
    if res.config["data"]["source"] == "synthetic":
        notes.append("pairs expected here / found: the synthetic twins' counts, by design far fewer than the real sets'.")
    return df, notes, None


def _row_label(res: Results, run: str) -> str:
    """A harness row's label: its model's (study.json) and where it comes from: 'HST-tiny [synthetic twins]',
    'PReNet [retrained here, synthetic twins]'."""
    synthetic = res.config["data"]["source"] == "synthetic"
    if res.is_baseline(run):
        return f"{_model_name(res, run)} [retrained here{', synthetic twins' if synthetic else ''}]"
    return _model_name(res, run) + (" [synthetic twins]" if synthetic else " [this harness]")


def _model_name(res: Results, run: str) -> str:
    """The model of a run as the study labels it (hst.models.model_label): 'HST-tiny', 'PReNet'."""
    return res.runs[run]["model"]


def _baseline_notes(res: Results, experiment: str, sets: dict[str, str]) -> list[str]:
    """Per test set, each retrained baseline minus the experiment's HST run: the paired per-seed PSNR
    difference with its 95% CI (shared seeds: same data order), or one seed's difference."""
    groups = res.groups(experiment)
    hst = [runs for runs in groups.values() if not res.is_baseline(runs[0])]
    if not hst:
        return []
    notes = []
    for runs in groups.values():
        if not res.is_baseline(runs[0]):
            continue
        for s, label in sets.items():
            if not all(s in res.runs[r]["test_sets"] for r in runs + hst[0]):
                continue
            try:
                d = paired_difference(res.by_seed(runs, s, "psnr"), res.by_seed(hst[0], s, "psnr"))
            except ValueError:  # no seed in common: nothing to pair
                continue
            notes.append(f"{_model_name(res, runs[0])} - {_model_name(res, hst[0][0])} on {label}: {d.mean:+.2f} dB PSNR"
                         + (f", 95% CI [{d.low:+.2f}, {d.high:+.2f}] over {d.n} paired seeds: {verdict(d)}"
                            if d.n > 1 else " (one seed each: no interval; see Table 5 for one over seeds)") + ".")
    if notes:
        notes.insert(0, "Retrained here: each baseline trained on the experiment's training set with the same budget of "
                        "training images as HST (iterations x batch x patch, the header's recipe), its own paper's "
                        "optimiser and loss, scored by the same code under the same protocol. The same images, not the "
                        "same compute: Table 1 gives each model's MACs per image.")
    return notes


def _cell(interval: Interval, digits: int) -> str:
    """'m' for one seed, 'm ± h' (95% CI half-width) for several."""
    if interval.n < 2:
        return f"{interval.mean:.{digits}f}"
    return f"{interval.mean:.{digits}f} ± {interval.half_width:.{digits}f}"


# How Tables 3 and 4 label the extra rows of a configuration trained on several seeds (the CSV keeps
# them; the Markdown and whoever reads the CSV for one number per configuration skip them).
SEED_ROW, CI_ROW = ", seed ", ", 95% CI half-width"
CONFIG_ROW = "_configuration"  # marks (in memory only) the row that stands for a configuration


def is_configuration_row(method: str) -> bool:
    """True for the row that stands for a configuration (its only row, or its mean over seeds);
    False for its per-seed and CI half-width rows."""
    return SEED_ROW not in method and not method.endswith(CI_ROW)


def _wide_rows(res: Results, experiment: str, sets: dict[str, str], average: bool) -> tuple[list[dict], list[dict]]:
    """The degraded-input and HST rows of a table with one PSNR/SSIM column pair per test set.

    Returns (CSV rows, Markdown rows). A configuration trained on several seeds gives one CSV row
    per seed, a mean row and a 95% CI half-width row; Markdown shows 'mean ± half-width'. With
    ``average``, an 'Average' column pair holds the mean over all of ``sets`` (per seed first)."""
    groups = res.groups(experiment)
    present = [s for s in sets if any(s in res.runs[r]["test_sets"] for runs in groups.values() for r in runs)]
    columns = [*present, "Average"] if average and len(present) == len(sets) else present

    def scores(run: str) -> dict[str, dict[str, float]]:
        out = {s: {m: float(res.summary(run, s)[m.lower()]) for m in ("PSNR", "SSIM")} for s in present
               if run == "input" or s in res.runs[run]["test_sets"]}
        if "Average" in columns and len(out) == len(present):
            out["Average"] = {m: sum(out[s][m] for s in present) / len(present) for m in ("PSNR", "SSIM")}
        return out

    def row(method: str, values: dict[str, dict[str, float]]) -> dict[str, Any]:
        return {"method": method, **{f"{sets.get(s, s)} {m}": v[m] for s, v in values.items() for m in ("PSNR", "SSIM")}}

    inputs = row("degraded input (no restoration)", scores("input")) if present else None
    csv_rows, md_rows = ([inputs], [inputs]) if inputs else ([], [])
    for runs in groups.values():
        label = _row_label(res, runs[0])
        per_seed = {res.seed(r): scores(r) for r in runs}
        # The row that stands for the configuration carries its baseline field (not a table column).
        config = {CONFIG_ROW: True, "baseline": res.runs[runs[0]].get("baseline") or ""}
        if len(runs) == 1:
            csv_rows.append({**row(label, next(iter(per_seed.values()))), **config})
            md_rows.append(csv_rows[-1])
            continue
        csv_rows += [row(f"{label}{SEED_ROW}{seed}", v) for seed, v in per_seed.items()]
        keys = [(s, m) for s in columns for m in ("PSNR", "SSIM") if all(s in v for v in per_seed.values())]
        cis = {(s, m): mean_ci(v[s][m] for v in per_seed.values()) for s, m in keys}
        name = f"{label}, mean of {len(runs)} seeds"
        csv_rows.append({"method": name, **{f"{sets.get(s, s)} {m}": ci.mean for (s, m), ci in cis.items()}, **config})
        csv_rows.append({"method": f"{label}{CI_ROW}",
                         **{f"{sets.get(s, s)} {m}": ci.half_width for (s, m), ci in cis.items()}})
        md_rows.append({"method": name, **{f"{sets.get(s, s)} {m}": _cell(ci, 2 if m == "PSNR" else 3)
                                           for (s, m), ci in cis.items()}})
    return csv_rows, md_rows


def _coverage_notes(res: Results, experiment: str, table: str, sets: dict[str, str], average: bool) -> list[str]:
    """Notes for what a table of one column pair per test set lacks: its experiment, or some of its sets."""
    if experiment not in res.config["experiments"]:
        return res.experiment_note(experiment, table)
    missing = [label for s, label in sets.items() if s not in res.config["experiments"][experiment]["test_sets"]]
    if not missing:
        return []
    return [f"{NOT_IN_STUDY}: {', '.join(missing)} (experiments.{experiment}.test_sets)"
            + (f"; no Average, which needs all {len(sets)} sets." if average else ".")]


def _published_then_ours(published: list[dict], csv_rows: list[dict], md_rows: list[dict], cols: list[str],
                         labels: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tables 3 and 4 as (CSV frame, Markdown frame): the published rows, then ours (:func:`_wide_rows`),
    PSNR with 2 decimals and SSIM with 3 in every ``<label> PSNR`` / ``<label> SSIM`` column."""
    digits = {**{f"{s} PSNR": 2 for s in labels}, **{f"{s} SSIM": 3 for s in labels}}
    pub = pd.DataFrame(published)
    df = pd.concat([pub, pd.DataFrame(csv_rows)], ignore_index=True).reindex(columns=cols)
    md = pd.concat([_fmt(pub.reindex(columns=cols), digits), pd.DataFrame(md_rows).reindex(columns=cols)], ignore_index=True)
    return _fmt(df, digits), _fmt(md, digits)


def table3(res: Results) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    pub = read_csv(res.baselines / "derain_published.csv")
    rows = []
    for (method, in_paper), g in pub.groupby(["method", "in_paper_table3"], sort=False):
        row = {"method": method, "in paper's Table 3": bool(in_paper)}
        for _, r in g.iterrows():
            row[f"{r.dataset} PSNR"], row[f"{r.dataset} SSIM"] = r.psnr_y, r.ssim_y
        rows.append(row)
    notes = ["PSNR/SSIM on Y (MATLAB rgb2ycbcr, rounded), Wang's SSIM ('valid'); Average = mean of the five set scores."]
    sets = res.table_sets("table3")
    csv_rows, md_rows = _wide_rows(res, "derain", sets, average=True)
    notes += _coverage_notes(res, "derain", "Table 3", sets, average=True)
    notes += _baseline_notes(res, "derain", sets)
    best = pub[(pub.in_paper_table3) & (pub.dataset == "Average")].sort_values("psnr_y").iloc[-1]
    claim = f"paper claims +{PAPER_AVG_GAIN:.2f} dB over {PAPER_BEST_BASELINE[0]}'s {PAPER_BEST_BASELINE[1]}"
    for r in csv_rows:  # the paper's model (not a baseline), one row per configuration
        if r.get(CONFIG_ROW) and not r["baseline"] and "Average PSNR" in r:
            if res.real:
                notes.append(f"{r['method']}: five-set average {r['Average PSNR']:.2f} dB; best baseline of Table 3 "
                             f"({best.method}) {best.psnr_y:.2f} dB; gap {r['Average PSNR'] - best.psnr_y:+.2f} dB ({claim}).")
            else:  # a twin's number minus a real set's number measures nothing
                notes.append(f"{r['method']}: five-set average {r['Average PSNR']:.2f} dB on the synthetic twins; the "
                             "published rows are on the real sets, so no gap to them is computed "
                             f"({claim}, on the real sets).")
    labels = [*sets.values(), "Average"]
    cols = ["method", "in paper's Table 3"] + [f"{s} {m}" for s in labels for m in ("PSNR", "SSIM")]
    for r in csv_rows + md_rows:
        r.setdefault("in paper's Table 3", False)
    df, md = _published_then_ours(rows, csv_rows, md_rows, cols, labels)
    return df, notes, md


def table4(res: Results) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    pub = read_csv(res.baselines / "deblur_published.csv")
    rows = []
    for method, g in pub.groupby("method", sort=False):
        row = {"method": method}
        for _, r in g.iterrows():
            row[f"{r.dataset} PSNR"], row[f"{r.dataset} SSIM"] = r.psnr, r.ssim
        rows.append(row)
    notes = ["GoPro/HIDE: PSNR on RGB; SSIM = MATLAB's built-in ssim on the H x W x 3 volume (ssim_volumetric); "
             "RealBlur: the official aligned protocol (ECC homography, masked PSNR/SSIM).",
             "RealBlur degraded input: scored WITHOUT alignment, as the official evaluation_RealBlur_ecc.py does "
             "(its image_align call is commented out; it aligns only restorations). Its SSIM is the same formula "
             "unaligned (the official script reports no input SSIM)."]
    sets = res.table_sets("table4")
    csv_rows, md_rows = _wide_rows(res, "deblur", sets, average=False)
    notes += _coverage_notes(res, "deblur", "Table 4", sets, average=False)
    notes += _baseline_notes(res, "deblur", sets)
    for run in (r for runs in res.groups("deblur").values() for r in runs):
        for s, label in sets.items():
            if s in res.runs[run]["test_sets"] and "ssim_per_channel" in (summ := res.summary(run, s)):
                notes.append(f"{_row_label(res, run)} (seed {res.seed(run)}) on {label}: mean per-channel SSIM "
                             f"{summ['ssim_per_channel']:.3f}.")
    cols = ["method"] + [f"{label} {m}" for label in sets.values() for m in ("PSNR", "SSIM")]
    df, md = _published_then_ours(rows, csv_rows, md_rows, cols, list(sets.values()))
    return df, notes, md


# The seeds column of Tables 5 and 6: a configuration trained on several seeds has one row per seed
# (CSV only) and a mean row; one trained on a single seed has one row, which says so.
ONE_SEED, MEAN_OF = "seed {} only", "mean of {}"


def is_per_seed_row(seeds: str) -> bool:
    """True for the per-seed rows of Tables 5 and 6 ('seed 2'); False for a configuration's own row
    ('mean of 3', 'seed 0 only') and the degraded input's."""
    return str(seeds).startswith("seed ") and str(seeds).split(" ")[-1].isdigit()


def _ablation_configs(res: Results, table: str) -> list[tuple[str, str, str | None]]:
    """(model, sampler, group) of the configurations ``table`` (Table 5 or 6) compares, in the study's
    resolved layout (hst.study.layout): the paper's model by variant and sampler, then the models retrained
    beside them; ``group`` None where the study lacks the configuration."""
    out = []
    for c in res.layout(table)["configs"]:
        if "baseline" in c:
            out.append((_model_name(res, res.groups("ablation")[c["group"]][0]) + " (retrained here)", "", c["group"]))
        else:
            out.append((c["label"], c["sampler"], c["group"]))
    return out


def _ablation_rows(res: Results, configs: list[tuple[str, str, str]], reference: str,
                   with_cost: bool, table: str, field: str) -> tuple[list[dict], list[dict], list[str]]:
    """Long-format rows of Tables 5 and 6: the degraded input, then per configuration and test set
    its row (with several seeds: one row per seed, then a mean row with 95% CIs over seeds), and its
    paired difference to ``reference`` (same seeds) with that difference's CI. Configurations the
    study lacks get a note naming ``field``, the study key that adds them. Returns (CSV rows,
    Markdown rows, notes)."""
    groups = {c: res.groups("ablation").get(c[2], []) if c[2] else [] for c in configs}
    missing = [c for c, runs in groups.items() if not runs]
    groups = {c: runs for c, runs in groups.items() if runs}
    csv_rows, md_rows, notes = [], [], []
    if "ablation" not in res.config["experiments"]:
        notes += res.experiment_note("ablation", table)
    elif missing:
        notes.append(f"{NOT_IN_STUDY}: {', '.join(f'{m} {s}' for m, s, _ in missing)} ({field}).")
    sets = list(dict.fromkeys(s for runs in groups.values() for r in runs for s in res.runs[r]["test_sets"]))
    for s in sets:
        summ = res.summary("input", s)
        row = {"model": "degraded input", "sampler": "", "test set": s, "seeds": "", "PSNR": summ["psnr"], "SSIM": summ["ssim"]}
        csv_rows.append(row)
        md_rows.append(row)
    ref = next((c for c in groups if c[2] == reference), None)
    ref_runs = groups.get(ref, []) if ref else []
    for (model, sampler, group), runs in groups.items():
        for s in sets:
            if not all(s in res.runs[r]["test_sets"] for r in runs):
                continue
            base = {"model": model, "sampler": sampler, "test set": s}
            psnr, ssim = res.by_seed(runs, s, "psnr"), res.by_seed(runs, s, "ssim")
            cost = {r: res.run_records[r] for r in runs}
            for r in runs if len(runs) > 1 else []:
                seed = res.seed(r)
                row = {**base, "seeds": f"seed {seed}", "PSNR": psnr[seed], "SSIM": ssim[seed]}
                if with_cost:
                    row["training time (s)"] = cost[r]["train_seconds"]
                    row["params"] = cost[r]["params"]  # counted by the trainer (hst.models.complexity.count_params)
                csv_rows.append(row)
            p, q = mean_ci(psnr.values()), mean_ci(ssim.values())
            mean = {**base, "seeds": MEAN_OF.format(p.n) if p.n > 1 else ONE_SEED.format(next(iter(psnr))),
                    "PSNR": p.mean, "PSNR 95% CI": p.half_width, "SSIM": q.mean, "SSIM 95% CI": q.half_width}
            md = {**base, "seeds": mean["seeds"], "PSNR": _cell(p, 2), "SSIM": _cell(q, 3)}
            if with_cost:
                t = mean_ci(c["train_seconds"] for c in cost.values())
                mean |= {"training time (s)": t.mean, "training time 95% CI": t.half_width, "params": cost[runs[0]]["params"]}
                md |= {"training time (s)": _cell(t, 1), "params": cost[runs[0]]["params"]}
            if ref_runs and group != reference and all(s in res.runs[r]["test_sets"] for r in ref_runs):
                d = paired_difference(psnr, res.by_seed(ref_runs, s, "psnr"))
                what = f"PSNR vs {ref[0]} {ref[1]}"
                mean |= {f"Δ {what}": d.mean, "Δ 95% CI": d.half_width, "Δ verdict": verdict(d)}
                md |= {f"Δ {what}": _cell(d, 2) if d.n > 1 else f"{d.mean:+.2f}", "Δ verdict": verdict(d)}
                notes.append(f"{model} {sampler}".rstrip() + f" - {ref[0]} {ref[1]} on {s}: "
                             f"{d.mean:+.3f} dB" + (f", 95% CI [{d.low:+.3f}, {d.high:+.3f}] over {d.n} paired seeds: "
                                                   f"{verdict(d)}" if d.n > 1 else " (one seed: no interval)") + ".")
            csv_rows.append(mean)
            md_rows.append(md)
    return csv_rows, md_rows, notes


def _long_frame(rows: list[dict], with_cost: bool) -> pd.DataFrame:
    """Rows of Table 5 or 6 as a frame; with no rows (no ablation), still the table's columns."""
    columns = ["model", "sampler", "test set", "seeds", "PSNR", "SSIM"] + (["training time (s)", "params"] if with_cost else [])
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=columns)


_CI_NOTE = ("Mean over training seeds with the 95% confidence interval (Student t, n - 1 degrees of freedom) as "
            "'mean ± half-width'; Δ: the paired per-seed difference (same seeds: same initialisation and data order) "
            "with its 95% CI, 'not significant' where the interval contains 0. The CSV keeps every seed's row.")


def table5(res: Results) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    layout = res.layout("table5")
    configs = _ablation_configs(res, "table5")
    csv_rows, md_rows, notes = _ablation_rows(res, configs, reference=layout["reference"], with_cost=True,
                                              table="Table 5", field=layout["field"])
    notes = [_CI_NOTE,
             "Training time: wall-clock seconds of the training loop (run.json's train_seconds), summed over resumes; "
             "trainings that the pipeline ran side by side shared the machine, so compare times of runs made alike.",
             *notes]
    # The paper's claim: its first variant (HST-tiny) against its last (HST-double), both with its sampler.
    variants = [c for c in layout["configs"] if "baseline" not in c]
    first, last = variants[0], variants[-1]
    tiny, double = (res.groups("ablation").get(c["group"], []) if c["group"] else [] for c in (first, last))
    if tiny and double and first is not last:
        params = [res.run_records[g[0]]["params"] for g in (tiny, double)]
        times = [mean_ci(res.run_records[r]["train_seconds"] for r in g).mean for g in (tiny, double)]
        notes.append(f"{first['label']} vs {last['label']}: {100 * (1 - params[0] / params[1]):.1f}% fewer parameters "
                     f"(paper claims {PAPER_PARAM_REDUCTION}%), {100 * (1 - times[0] / times[1]):.1f}% less training time "
                     f"(means over seeds; paper claims {PAPER_TIME_REDUCTION}%).")
    digits = {"PSNR": 2, "PSNR 95%": 3, "SSIM": 3, "SSIM 95%": 4, "training": 1, "Δ": 3}
    df, md = _long_frame(csv_rows, with_cost=True), _long_frame(md_rows, with_cost=True)
    for frame in (df, md):
        if "params" in frame:
            frame["params"] = frame["params"].astype("Int64")
    return _fmt(df, digits), notes, _fmt(md, digits)


def table6(res: Results) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    layout = res.layout("table6")
    csv_rows, md_rows, notes = _ablation_rows(res, _ablation_configs(res, "table6"), reference=layout["reference"],
                                              with_cost=False, table="Table 6", field=layout["field"])
    notes = ["Single-layer HST (HST-tiny); only the sampler of global sparse attention changes. "
             "grid (fixed top-left element, as EdgeViT) is our addition to the paper's three.", _CI_NOTE, *notes]
    digits = {"PSNR": 2, "PSNR 95%": 3, "SSIM": 3, "SSIM 95%": 4, "Δ": 3}
    return _fmt(_long_frame(csv_rows, False), digits), notes, _fmt(_long_frame(md_rows, False), digits)


RESULTS_COLUMNS = ["kind", "run", "experiment", "group", "model", "arch", "variant", "sampler", "baseline", "seed", "set",
                   "protocol", "metric", "value"]


def long_results(res: Results) -> pd.DataFrame:
    """Every number the tables are made of, one per row at full precision (``results.csv``): each run's
    mean PSNR and SSIM per test set, its training seconds and parameters, each degraded input's scores,
    each released weight's scores under each protocol. The tables round; the report's claims and plots
    read this."""
    rows = []
    for name, run in res.runs.items():
        base = {"kind": "run", "run": name, "experiment": run["experiment"], "group": run["group"],
                "model": _model_name(res, name), "arch": run["arch"], "variant": run["variant"], "sampler": run["sampler"],
                "baseline": run.get("baseline") or "", "seed": res.seed(name)}
        record = res.run_records[name]
        for metric in ("train_seconds", "params"):
            rows.append({**base, "set": "", "protocol": "", "metric": metric, "value": float(record[metric])})
        for s in run["test_sets"]:
            summ = res.summary(name, s)
            rows += [{**base, "set": s, "protocol": summ["protocol"], "metric": m, "value": float(summ[m])}
                     for m in ("psnr", "ssim")]
    for s in dict.fromkeys(x for r in res.runs.values() for x in r["test_sets"]):
        summ = res.summary("input", s)
        rows += [{"kind": "input", "run": "input", "set": s, "protocol": summ["protocol"], "metric": m,
                  "value": float(summ[m])} for m in ("psnr", "ssim")]
    for r in res.study.get("released", []):
        for protocol in r["protocols"]:
            summ = read_csv(res.root / "released" / r["weights"] / r["set"] / protocol / "summary.csv").iloc[0]
            rows += [{"kind": "released", "run": r["weights"], "model": r["arch"], "arch": r["arch"], "set": r["set"], "protocol": protocol,
                      "metric": m, "value": float(summ[m])} for m in ("psnr", "ssim")]
    return pd.DataFrame(rows).reindex(columns=RESULTS_COLUMNS)


def released_table(res: Results) -> tuple[pd.DataFrame, list[str], None]:
    """Released weights scored here (released.evaluate): the authors' published figure, the figure here under
    their protocol, and under the protocol of the paper's tables (the study.json of the pipeline says which)."""
    rows = []
    for r in res.study.get("released", []):
        pub = r.get("published") or {}
        row = {"weights": r["weights"], "architecture": r["arch"], "trained on": r["trained_on"], "test set": r["set"],
               "published PSNR": pub.get("psnr"), "published SSIM": pub.get("ssim"),
               "published protocol": pub.get("protocol", "")}
        for key, protocol in (("own", r["own_protocol"]), ("table", r["table_protocol"])):
            summ = read_csv(res.root / "released" / r["weights"] / r["set"] / protocol / "summary.csv").iloc[0]
            row |= {f"{key} protocol": protocol, f"{key} PSNR": float(summ["psnr"]), f"{key} SSIM": float(summ["ssim"])}
        if pub:
            row["own - published PSNR"] = row["own PSNR"] - float(pub["psnr"])
        rows.append(row)
    notes = ["own: scored here under the protocol its authors published with (hst.metrics.protocols; PReNet's: Y of the "
             "double image unrounded, peak 1, Wang's ssim.m with its downsampling, outputs truncated to uint8); "
             "table: under the protocol of the paper's tables for that set (deraining: MPRNet's).",
             "The weights are downloaded from their authors (hst/data/weights.yaml: size and SHA-256 pinned) and restored "
             "by this harness's own implementation of the architecture."]
    if not res.real:
        notes.append("These test sets are SYNTHETIC TWINS: the published figures are on the real sets.")
    digits = {"published PSNR": 2, "published SSIM": 3, "own PSNR": 4, "own SSIM": 4, "table PSNR": 4,
              "table SSIM": 4, "own - published": 4}
    return _fmt(pd.DataFrame(rows), digits), notes, None


TABLES = {
    "table1": ("Table 1. HST-tiny vs HST-double: settings, parameters, MACs", table1),
    "table2": ("Table 2. Datasets: pairs per set", table2),
    "table3": ("Table 3. Image deraining (PSNR/SSIM on Y)", table3),
    "table4": ("Table 4. Motion deblurring (trained on GoPro)", table4),
    "table5": ("Table 5. Single vs double layer on the heavy-rain set (and the baselines retrained beside them)", table5),
    "table6": ("Table 6. Stochastic sampler vs max / average pooling (and grid)", table6),
    "released": ("Released weights scored here: published, own protocol, table protocol", released_table),
}


def write_tables(study_json: str | Path, out: str | Path, baselines: str | Path = BASELINES,
                 only: str | None = None) -> list[Path]:
    """Write every output of ``hst tables`` under ``out`` (each table as CSV and Markdown, then ``results.csv``), or
    with ``only`` that one; return the paths. Each reads only the run records study.json's ``reads`` names for it,
    and its header names those runs' recipes, devices and commits, so a table is the same however it was built."""
    out = Path(out)
    reads = read_json(study_json)["reads"]
    if only is not None and only not in reads:
        raise DataError(f"--only {only}: not an output of this study ({', '.join(reads)})")
    written = []
    for name in reads if only is None else [only]:
        res = Results(study_json, baselines, output=name)
        if name == "results":
            comment = "".join(f"# {line}\n" for line in ["every number of the tables at full precision "
                                                         "(hst.paper.tables.long_results)", *res.header()])
            atomic_write_text(out / "results.csv", comment + long_results(res).to_csv(index=False, float_format="%.10g"))
            written.append(out / "results.csv")
            continue
        title, build = TABLES[name]
        df, notes, md = build(res)
        write_table(out, name, title, res.header(), df, notes, md)
        written += [out / f"{name}.csv", out / f"{name}.md"]
    return written


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", required=True, help="the study.json the pipeline wrote under its results folder")
    add_out(parser, "folder for table1..6 .csv and .md, released.*, results.csv", metavar="DIR")
    parser.add_argument("--baselines", default=str(BASELINES), help="folder of the published-number CSVs (default: the repository's baselines/)")
    parser.add_argument("--only", choices=OUTPUTS, default=None,
                        help="write this one output (a table, or results.csv: 'results') from what it reads; "
                             "default: every output of the study")


def run(args: argparse.Namespace) -> int:
    for path in write_tables(args.study, args.out, args.baselines, args.only):
        print(path)
    return 0
