"""The pieces of Snakemake's HTML report (``snakemake --report results/report.html``).

Each piece is one file that a rule of the pipeline writes and declares with ``report()``:

- ``table``: one of the tables stage's ``tableN.csv`` rendered as an HTML page (its ``#`` header
  lines, the provenance, become the page's caption; nothing is recomputed);
- ``curves``: loss and learning rate against iteration, one line per run (``train_log.csv``);
- ``cost``: PSNR against parameters and GMACs (Tables 1, 3 and 4: HST and the published baselines
  whose parameter counts are known);
- ``psnr``: per-image PSNR per test set, degraded input vs every model evaluated on it;
- ``claims``: the paper's checkable claims beside this study's numbers (from Tables 1, 3, 5), and
  which readings of the paper's open choices meet 48.1% fewer parameters (``complexity --readings``);
- ``times``: Snakemake's benchmark files of the train and infer rules beside run.json's times.
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path
from typing import Any

import pandas as pd

from hst.errors import DataError
from hst.fsutil import atomic_write_bytes, atomic_write_text
from hst.models import SAMPLERS, VARIANTS
from hst.paper import claims as claims_
from hst.paper.tables import NOT_IN_STUDY, read_csv, read_json, table_sets
from hst.study.layout import PAPER_ARCH
from hst.options import add_out

PAPER_CLAIMS = {"params": claims_.PARAM_REDUCTION, "time": claims_.TIME_REDUCTION, "avg_gain": claims_.AVG_GAIN,
                "test100_gain": claims_.TEST100_GAIN}
STYLE = ("body{font-family:sans-serif;font-size:13px;margin:12px}table{border-collapse:collapse;margin:8px 0}"
         "td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#eee}"
         "td:first-child,th:first-child{text-align:left}.meta{color:#555;margin:2px 0}.yes{background:#d9f2d9}")


def comment_lines(path: str | Path) -> list[str]:
    """The ``# `` header lines of a tables-stage CSV (title, provenance, notes)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return [line[2:].rstrip("\n") for line in fh if line.startswith("# ")]
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror or exc})") from None


def page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>\n")


def table_html(csv_path: str | Path) -> str:
    """A tables-stage CSV as an HTML page: the title, the provenance lines, the table."""
    lines = comment_lines(csv_path)
    if not lines:
        raise DataError(f"{csv_path}: no '# ' header lines; is it a table of `hst tables`?")
    df = read_csv(csv_path)
    # Empty cells blank: a column with one becomes text (pandas refuses "" in a float column), the others keep their
    # dtype and so their formatting.
    df = df.apply(lambda col: col.astype(object).fillna("") if col.isna().any() else col)
    meta = "".join(f"<p class='meta'>{html.escape(x)}</p>" for x in lines[1:])
    return page(lines[0], f"<h2>{html.escape(lines[0])}</h2>{meta}{df.to_html(index=False, border=0)}")


# -- study.json ------------------------------------------------------------------------------
def load_study(study_json: str | Path) -> dict[str, Any]:
    return read_json(study_json)


def training_logs(study_json: str | Path) -> dict[str, pd.DataFrame]:
    """train_log.csv of every run of the study, by run name."""
    root = Path(study_json).parent
    return {run: read_csv(root / "runs" / run / "train_log.csv") for run in load_study(study_json)["runs"]}


def per_image_psnr(study_json: str | Path) -> dict[str, dict[str, list[float]]]:
    """{test set: {"input": [...], run: [...]}} from eval/<RUN>/<SET>/per_image.csv."""
    root = Path(study_json).parent
    runs = load_study(study_json)["runs"]
    sets = list(dict.fromkeys(s for r in runs.values() for s in r["test_sets"]))
    out = {}
    for s in sets:
        series = {"input": read_csv(root / "eval" / "input" / s / "per_image.csv")["psnr"].tolist()}
        for run, r in runs.items():
            if s in r["test_sets"]:
                series[run] = read_csv(root / "eval" / run / s / "per_image.csv")["psnr"].tolist()
        out[s] = series
    return out


# -- cost / quality --------------------------------------------------------------------------
def _key(name: str) -> str:
    """A method name without its parenthesised qualifier, lower case: 'MPRNet (deraining config)' -> 'mprnet'."""
    return name.split("(")[0].split("[")[0].strip().lower()


def harness_psnr(results: pd.DataFrame, model: str, experiment: str, sets: list[str]) -> float | None:
    """Mean over seeds of one model's mean PSNR over ``sets`` in one experiment, from ``results.csv``
    (full precision); None when the study has no such run on all of them."""
    rows = results[(results["kind"] == "run") & (results["experiment"] == experiment) & (results["model"] == model)
                   & (results["metric"] == "psnr") & (results["set"].isin(sets))]
    per_seed = rows.groupby("seed")["value"].agg(["mean", "count"])
    per_seed = per_seed[per_seed["count"] == len(sets)]
    return None if per_seed.empty else float(per_seed["mean"].mean())


def cost_points(tables: str | Path, study: dict[str, Any]) -> pd.DataFrame:
    """Points for the cost/quality plot from Tables 1, 3, 4: every method with a parameter count
    and a PSNR on the deraining average (Table 3) or on its first deblurring set (Table 4, GoPro); the
    models trained here from ``results.csv`` (full precision), the published ones from the tables."""
    tables = Path(tables)
    t1 = read_csv(tables / "table1.csv")
    results = read_csv(tables / "results.csv")
    derain, deblur = list(table_sets(study, "table3")), list(table_sets(study, "table4"))
    first = study["sets"][deblur[0]]["label"]
    quality = {"deraining: five-set average PSNR (Y)": (read_csv(tables / "table3.csv"), "Average PSNR", "derain", derain),
               f"deblurring: {first} PSNR (RGB)": (read_csv(tables / "table4.csv"), f"{first} PSNR", "deblur", deblur[:1])}
    rows = []
    for task, (table, column, experiment, sets) in quality.items():
        if column not in table:
            continue
        for _, c in t1.iterrows():
            name = str(c["model"])
            if str(c.get("task", "") if pd.notna(c.get("task", "")) else "") not in ("", experiment):
                continue  # a published model's configuration for the other task (MPRNet's deblurring one)
            ours = harness_psnr(results, name, experiment, sets)
            if ours is None and pd.isna(c.get("arch")):  # a published row (a model of this harness has none)
                psnr = pd.to_numeric(table[table["method"].map(_key) == _key(name)][column], errors="coerce").dropna()
                value = float(psnr.iloc[0]) if not psnr.empty else None
            else:
                value = ours
            if value is None:
                continue
            rows.append({"method": name, "task": task, "psnr": value,
                         "params": float(c["params"]), "gmacs": pd.to_numeric(c.get("gmacs_256"), errors="coerce"),
                         "ours": ours is not None})
    return pd.DataFrame(rows, columns=["method", "task", "psnr", "params", "gmacs", "ours"])


# -- claims ----------------------------------------------------------------------------------
def _row(df: pd.DataFrame, column: str, value: str) -> pd.Series | None:
    hits = df[df[column].astype(str) == value] if column in df else df.iloc[0:0]
    return None if hits.empty else hits.iloc[0]


def _num(row: pd.Series | None, column: str) -> float | None:
    """The cell as a number; None where the row or column is absent or the cell is not a plain number."""
    if row is None or column not in row:
        return None
    value = pd.to_numeric(pd.Series([row[column]]), errors="coerce").iloc[0]
    return None if pd.isna(value) else float(value)


def claims(tables: str | Path, study: dict[str, Any]) -> list[dict[str, str]]:
    """The paper's four checkable claims and this study's reading of each, from the tables stage's
    ``results.csv`` (full precision) and Table 1 (parameters), with the published rows of Table 3.

    Only when the study scored the real sets are its PSNRs set against the published ones; a
    synthetic twin's number minus a real set's number measures nothing."""
    real = study["config"]["data"]["source"] == "real"
    tables = Path(tables)
    t1, t3 = read_csv(tables / "table1.csv"), read_csv(tables / "table3.csv")
    results = read_csv(tables / "results.csv")
    out = []
    # HST-tiny against HST-double: the paper's model, its first variant against its last.
    first, last = list(VARIANTS)[0], list(VARIANTS)[-1]
    paper = t1[t1["arch"] == PAPER_ARCH] if "arch" in t1 else t1.iloc[0:0]
    p_tiny, p_double = (_num(_row(paper, "variant", v), "params") for v in (first, last))
    ours = (f"{100 * (1 - p_tiny / p_double):.1f}% ({int(p_tiny):,} vs {int(p_double):,})"
            if p_tiny and p_double else NOT_IN_STUDY)
    out.append({"claim": "HST-tiny has fewer parameters than HST-double", "paper": f"{PAPER_CLAIMS['params']}%",
                "ours": ours, "from": "Table 1 (default reading of the open choices; see the readings below)"})
    seconds = results[(results["kind"] == "run") & (results["metric"] == "train_seconds") & (results["experiment"] == "ablation")
                      & results["baseline"].isna() & (results["sampler"] == SAMPLERS[0])]
    t_tiny, t_double = (seconds[seconds["variant"] == v]["value"] for v in (first, last))
    ours = (f"{100 * (1 - t_tiny.mean() / t_double.mean()):.1f}% ({t_tiny.mean():.1f} s vs {t_double.mean():.1f} s)"
            if len(t_tiny) and len(t_double) else f"{NOT_IN_STUDY} (Table 5 has no training time of HST-tiny and HST-double)")
    out.append({"claim": "HST-tiny trains in less time than HST-double", "paper": f"{PAPER_CLAIMS['time']}%",
                "ours": ours, "from": "Table 5 (run.json train_seconds)"})
    hst = results[(results["kind"] == "run") & (results["experiment"] == "derain") & (results["baseline"].isna())]
    model = None if hst.empty else str(hst["model"].iloc[0])
    baselines = t3[t3["in paper's Table 3"].astype(str) == "True"]
    derain = list(table_sets(study, "table3"))
    for key, column, against, sets in (("avg_gain", "Average PSNR", claims_.BEST_BASELINE[0], derain),
                                       ("test100_gain", f"{claims_.GAIN_SET} PSNR", None, [claims_.GAIN_SET])):
        ours = NOT_IN_STUDY
        value = None if model is None else harness_psnr(results, model, "derain", sets)
        if value is not None and not real:
            ours = (f"not comparable: {model} {value:.2f} dB is on synthetic twins, the published "
                    "numbers on the real sets (no difference computed)")
        elif value is not None:
            pool = baselines[baselines["method"] == against] if against else baselines
            best = pool.loc[pd.to_numeric(pool[column]).idxmax()]
            ours = f"{value - float(best[column]):+.2f} dB ({model} {value:.2f} vs {best['method']} {float(best[column]):.2f}, published)"
        what = (f"average over the five sets, over {against}" if against
                else f"on {claims_.GAIN_SET}, over the best method of Table 3")
        out.append({"claim": f"HST's PSNR gain {what}", "paper": f"+{PAPER_CLAIMS[key]:.2f} dB", "ours": ours,
                    "from": f"Table 3 ({column}; results.csv at full precision)"})
    return out


def claims_html(tables: str | Path, readings_csv: str | Path, study: dict[str, Any]) -> str:
    real = study["config"]["data"]["source"] == "real"
    source = "the real sets" if real else "synthetic twins (not comparable with the paper's numbers)"
    rows = pd.DataFrame(claims(tables, study))
    readings = read_csv(readings_csv)
    meets = (readings["reduction_pct"] - claims_.PARAM_REDUCTION).abs() <= claims_.WITHIN_POINTS
    hits = readings[meets]
    readings_view = readings.copy()
    readings_view[f"meets {claims_.PARAM_REDUCTION}%"] = meets.map({True: "yes", False: ""})
    marked = readings_view.to_html(index=False, border=0).replace("<td>yes</td>", "<td class='yes'>yes</td>")
    body = (f"<h2>The paper's claims beside this study</h2><p class='meta'>data: {html.escape(source)}</p>"
            f"{rows.to_html(index=False, border=0)}"
            f"<h3>Which readings of the paper's open choices meet {claims_.PARAM_REDUCTION}% fewer parameters</h3>"
            "<p class='meta'><code>python -m hst complexity --readings</code>: parameters of HST-tiny and HST-double for "
            f"each upsampler, sampling ratios per level and width of decoder level 0; 'yes' = within "
            f"{claims_.WITHIN_POINTS:g} point of {claims_.PARAM_REDUCTION}%. "
            f"{len(hits)} of {len(readings)} readings do.</p>{marked}")
    return page("Claims", body)


# -- times -----------------------------------------------------------------------------------
def times_table(study_json: str | Path, benchmarks: str | Path) -> pd.DataFrame:
    """Per training and per restoration: Snakemake's benchmark (wall s, max RSS) and run.json's times."""
    root, bench = Path(study_json).parent, Path(benchmarks)
    runs = load_study(study_json)["runs"]
    rows = []
    for run, r in runs.items():
        path = bench / "train" / f"{run}.tsv"
        b = read_csv(path, sep="\t") if path.exists() else None
        record = read_json(root / "runs" / run / "run.json")
        rows.append(_times_row("train", run, "", b, record.get("train_seconds"), record.get("wall_seconds_all_segments")))
        for s in r["test_sets"]:
            path = bench / "infer" / run / f"{s}.tsv"
            meta = root / "eval" / run / s / "eval.json"
            seconds = read_json(meta).get("inference_seconds") if meta.exists() else None
            rows.append(_times_row("infer", run, s, read_csv(path, sep="\t") if path.exists() else None, seconds, None))
    return pd.DataFrame(rows)


def _times_row(step: str, run: str, test_set: str, bench: pd.DataFrame | None, inner: float | None,
               all_segments: float | None) -> dict[str, Any]:
    last = None if bench is None or bench.empty else bench.iloc[-1]
    return {"step": step, "run": run, "test set": test_set,
            "rule wall time (s, benchmark)": "" if last is None else round(float(last["s"]), 2),
            "max RSS (MB, benchmark)": "" if last is None else round(float(last["max_rss"]), 1),
            "loop time (s, run.json / eval.json)": "" if inner is None else round(float(inner), 2),
            "all segments (s, run.json)": "" if all_segments is None else round(float(all_segments), 2)}


def times_html(study_json: str | Path, benchmarks: str | Path) -> str:
    df = times_table(study_json, benchmarks)
    note = ("Rule wall time and max RSS: Snakemake's benchmark: files of the train and infer rules (the whole "
            "command: start-up, data loading, the loop, saving; the last run of the rule when it was rerun). "
            "Loop time: the training loop's train_seconds (run.json) or the restorations' inference_seconds (eval.json).")
    return page("Times", f"<h2>Wall time and memory of trainings and restorations</h2><p class='meta'>{html.escape(note)}</p>"
                         f"{df.to_html(index=False, border=0)}")


# -- command line ----------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("table", "curves", "cost", "psnr", "claims", "times"),
                        help="the piece: a table as HTML, training curves, cost/quality, per-image PSNR, claims, times")
    parser.add_argument("--study", help="results/study.json (curves, cost, psnr, claims, times)")
    parser.add_argument("--tables", help="the tables stage's folder (cost, claims)")
    parser.add_argument("--csv", help="the table to render (table)")
    parser.add_argument("--readings", help="complexity --readings CSV (claims)")
    parser.add_argument("--benchmarks", help="the benchmark folder of the train/infer rules (times)")
    add_out(parser, "the piece's file (HTML or PNG)", old=("--output",))


def _need(args: argparse.Namespace, *names: str) -> None:
    missing = [f"--{n}" for n in names if not getattr(args, n)]
    if missing:
        raise DataError(f"report {args.what}: needs {' '.join(missing)}")


def run(args: argparse.Namespace) -> int:
    from hst.paper import plots

    if args.what == "table":
        _need(args, "csv")
        atomic_write_text(args.out, table_html(args.csv))
    elif args.what == "curves":
        _need(args, "study")
        atomic_write_bytes(args.out, plots.training_curves(training_logs(args.study)))
    elif args.what == "cost":
        _need(args, "tables", "study")
        atomic_write_bytes(args.out, plots.cost_quality(cost_points(args.tables, load_study(args.study))))
    elif args.what == "psnr":
        _need(args, "study")
        atomic_write_bytes(args.out, plots.psnr_distributions(per_image_psnr(args.study)))
    elif args.what == "claims":
        _need(args, "tables", "readings", "study")
        atomic_write_text(args.out, claims_html(args.tables, args.readings, load_study(args.study)))
    else:
        _need(args, "study", "benchmarks")
        atomic_write_text(args.out, times_html(args.study, args.benchmarks))
    print(args.out)
    return 0
