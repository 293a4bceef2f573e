"""The command line: every option of every command has help, one spelling per meaning, --version, old
spellings that still work and say what replaces them, the pipeline's steps listed apart."""

from __future__ import annotations

import argparse
import importlib

import pytest

from hst.cli import COMMANDS, PIPELINE_STEPS, main
from hst.version import __version__


def parsers():
    """(command path, parser) of every command and sub-command."""
    out = []

    def walk(parser, path):
        out.append((path, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*path, name])

    for name, (module, _) in {**COMMANDS, **PIPELINE_STEPS}.items():
        parser = argparse.ArgumentParser(prog=f"python -m hst {name}")
        importlib.import_module(module).configure_parser(parser)
        walk(parser, [name])
    return out


def options():
    """(command, flags, dest, help) of every option and positional argument, --help aside."""
    return [(" ".join(path), "/".join(a.option_strings) or a.dest, a.dest, a.help) for path, parser in parsers()
            for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def test_every_option_of_every_command_has_help():
    missing = [f"{command} {flags}" for command, flags, _, help_ in options() if not help_ or help_ == argparse.SUPPRESS]
    assert missing == []


def test_no_flag_means_two_things():
    """One meaning per flag name across commands: --set is a run-config override (train), --data a set folder,
    -o/--out what a command writes."""
    meanings: dict[str, set[str]] = {}
    for command, flags, dest, _ in options():
        for flag in flags.split("/"):
            if flag.startswith("-"):
                meanings.setdefault(flag, set()).add(dest)
    assert {f: d for f, d in meanings.items() if len(d) > 1} == {}
    assert meanings["--set"] == {"overrides"} and meanings["--data"] == {"set_dir"}
    writers = {command for command, flags, dest, _ in options() if dest == "out"}
    assert {"train", "evaluate", "score", "restore", "complexity", "tables", "heatmap", "visual", "report"} <= writers
    assert all("-o" in flags.split("/") and "--out" in flags.split("/")
               for command, flags, dest, _ in options() if dest == "out")


def test_version_and_the_pipeline_steps_apart(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"python -m hst {__version__}"
    assert main([]) == 2
    text = capsys.readouterr().out
    users, steps = text.split("the pipeline's steps")
    assert all(f"    {name}" in users for name in COMMANDS)
    assert not any(f"    {name} " in users for name in PIPELINE_STEPS) and all(name in steps for name in PIPELINE_STEPS)
    assert "``" not in text  # plain text, no reST markup


def test_required_options_are_shown_required(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--config", "config/recipes/synthetic.yaml"])
    assert "one of the arguments -o/--out --print-config is required" in capsys.readouterr().err


def test_an_old_spelling_still_works_and_says_what_replaces_it(tmp_path, capsys):
    assert main(["report", "table", "--csv", str(tmp_path / "none.csv"), "--output", str(tmp_path / "t.html")]) == 2
    err = capsys.readouterr().err
    assert "warning: python -m hst report: --output is deprecated; use --out" in err
    assert f"error: {tmp_path / 'none.csv'}: unreadable" in err  # the value reached the command as --out's


def test_a_plugin_that_does_not_import_is_one_line(tmp_path):
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "hst", "plan"], capture_output=True, text=True,
                         env={**__import__("os").environ, "HST_PLUGINS": "no_such_module_here"})
    assert out.returncode == 2
    assert out.stderr.strip() == "error: HST_PLUGINS: cannot import 'no_such_module_here' (No module named 'no_such_module_here')"
