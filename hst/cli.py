"""The HST harness's command line: python -m hst COMMAND [options].

Each command lives in its own module, imported only when it runs, and exposes
``configure_parser(parser)`` and ``run(args) -> int``. The pipeline's own steps (tables, figures, the
report's pieces, the regression check) work from the command line too, but are listed apart.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hst.errors import HSTError
from hst.version import __version__

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "complexity": ("hst.models.complexity", "parameters and MACs of HST-tiny, HST-double and the baselines (Table 1)"),
    "data": ("hst.data.cli", "fetch, synthesise, check and prepare datasets"),
    "train": ("hst.engine.train", "train a model from a run config"),
    "evaluate": ("hst.engine.evaluate", "restore every image of a set and score it"),
    "score": ("hst.engine.score", "score saved restorations against targets, without the model"),
    "restore": ("hst.engine.restore", "restore your own images with a checkpoint"),
    "weights": ("hst.engine.released", "released weights of baseline models: list, fetch (checked, resumable)"),
    "plan": ("hst.study.plan", "what a study costs before it starts: trainings, time, downloads, disk"),
}
# The pipeline's steps (the Snakefile runs them; they work by hand too): listed apart in the help.
PIPELINE_STEPS: dict[str, tuple[str, str]] = {
    "tables": ("hst.paper.tables", "build the paper's tables from per-run CSVs"),
    "heatmap": ("hst.paper.heatmap", "Fig. 6: how often each position is sampled"),
    "visual": ("hst.paper.visual", "Figs. 7-8: input / HST / target crops of every test set"),
    "report": ("hst.paper.report", "the pieces of the HTML report: tables as HTML, curves, cost/quality, claims, times"),
    "regression": ("hst.paper.regression", "compare a run's metrics with the committed reference"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    steps = "\n".join(f"  {name:12s}{help_}" for name, (_, help_) in PIPELINE_STEPS.items())
    parser = argparse.ArgumentParser(prog="python -m hst", description=__doc__.splitlines()[0],
                                     epilog=f"the pipeline's steps (run by the Snakefile):\n{steps}",
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_) in {**COMMANDS, **PIPELINE_STEPS}.items():
        kwargs = {"help": help_} if name in COMMANDS else {}  # no help: not in the list above the epilog
        p = sub.add_parser(name, description=help_, **kwargs)
        if name == wanted:
            mod = importlib.import_module(module)
            mod.configure_parser(p)
            p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)  # imports the command's module: a bad $HST_PLUGINS fails here
    except HSTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except HSTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
