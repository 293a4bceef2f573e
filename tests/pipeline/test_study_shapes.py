"""Studies of other shapes through the real Snakefile: one experiment, one sampler, one seed; each to
its tables and `snakemake --report`, the tables saying what the study left out.

Each shape starts from a copy of the session's tiny finished study (tests/pipeline/conftest.py), its
experiments replaced by the shape's: the same command then brings the copy to the shape (the edit matrix,
test_edits.py, shows that an edited study's tables equal those of a from-scratch run of it). Each shape
prints its wall time (pytest -s shows it)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.helpers.pipeline import copy_study, snakemake

pytestmark = pytest.mark.slow

DERAIN = {"train_set": "Rain13K", "variant": "tiny", "test_sets": ["Rain100H"]}
DEBLUR = {"train_set": "GoPro-train", "variant": "tiny", "test_sets": ["GoPro-test"]}
SHAPES = {
    "derain-only": {"derain": DERAIN},
    "deblur-only": {"deblur": DEBLUR},
    "ablation-one-sampler": {"ablation": {"train_set": "RainTrainH", "test_sets": ["Rain100H"], "variants": ["tiny"],
                                          "samplers": ["stochastic"], "seeds": [0, 1]}},
    "one-seed-everywhere": {"derain": {**DERAIN, "seeds": [0]}, "deblur": {**DEBLUR, "seeds": [0]},
                            "ablation": {"train_set": "RainTrainH", "test_sets": ["Rain100H"],
                                         "variants": ["tiny", "double"], "samplers": ["stochastic", "max"], "seeds": [0]}},
}


def shape_study(shared: Path, tmp: Path, experiments: dict) -> Path:
    """A copy of the shared finished study with only ``experiments`` (and no released weights): its study file."""
    config = copy_study(shared, tmp / "study")
    study = yaml.safe_load(config.read_text())
    study["experiments"] = experiments
    study.pop("released", None)
    config.write_text(yaml.safe_dump(study))
    return config


def table(tmp: Path, name: str) -> tuple[pd.DataFrame, str]:
    path = tmp / "results" / "tables" / f"{name}.csv"
    return pd.read_csv(path, comment="#"), path.read_text()


@pytest.mark.parametrize("shape", list(SHAPES))
def test_study_of_any_shape_goes_through_tables_and_report(shape, shared_study, tmp_path):
    config = shape_study(shared_study, tmp_path, SHAPES[shape])
    tmp_path = config.parent
    start = time.perf_counter()
    snakemake(tmp_path, "--cores", "2", "--configfile", str(config), "--quiet", "rules")
    snakemake(tmp_path, "--configfile", str(config), "--report", "results/report.html")
    print(f"\n{shape}: pipeline and report in {time.perf_counter() - start:.1f} s")

    page = (tmp_path / "results" / "report.html").read_text(encoding="utf-8")
    for i in range(1, 7):
        assert f"results/report/table{i}.html" in page  # every table is in the report, rows or not
    t3, t3_text = table(tmp_path, "table3")
    t4, t4_text = table(tmp_path, "table4")
    t5, t5_text = table(tmp_path, "table5")
    t6, t6_text = table(tmp_path, "table6")
    claims = (tmp_path / "results" / "report" / "claims.html").read_text()
    ours = lambda df: df[df.method.astype(str).str.startswith("HST")]  # noqa: E731
    if shape == "derain-only":
        assert len(ours(t3)) == 1 and ours(t4).empty and t5.empty and t6.empty
        assert "not in this study: the study has no deblur experiment" in t4_text
        assert "not in this study: the study has no ablation experiment" in t5_text + t6_text
        assert "not in this study: Test100, Rain100L, Test2800, Test1200 (experiments.derain.test_sets)" in t3_text
        assert "fig7_visual.png" in page and "fig6_heatmap.png" not in page
        assert "Not in this study" in page  # the report's front page (workflow/report/workflow.rst)
        assert "not in this study: the deblur experiment (Table 4 and the deblurring panels" in t3_text  # header line
    elif shape == "deblur-only":
        assert ours(t3).empty and len(ours(t4)) == 1 and t5.empty and t6.empty
        assert "not in this study: the study has no derain experiment" in t3_text
        assert "HST's PSNR gain" in claims and "not in this study" in claims
    elif shape == "ablation-one-sampler":
        assert ours(t3).empty and ours(t4).empty
        assert set(t6.sampler.dropna()) == {"stochastic"} and set(t5.model) == {"degraded input", "HST-tiny"}
        assert "not in this study: HST-double stochastic (experiments.ablation.variants)" in t5_text
        assert "not in this study: HST-tiny max, HST-tiny avg, HST-tiny grid (experiments.ablation.samplers)" in t6_text
        assert "mean of 2" in t6_text and "fig6_heatmap.png" not in page and "fig7_visual.png" not in page
        assert "Fig. 6 (needs a heatmap section and the ablation's HST-tiny with the stochastic and the max" in t6_text
    else:
        hst5, hst6 = t5[t5.model != "degraded input"], t6[t6.model != "degraded input"]
        assert list(hst5.seeds) == ["seed 0 only"] * 2 and list(hst6.seeds) == ["seed 0 only"] * 2  # one row each
        assert "trains in less time" in claims and "no training time" not in claims  # read from the single-seed rows
        assert "not comparable" in claims and not re.search(r"gap [+-]\d", t3_text)  # twins vs published: no difference
        assert "fig6_heatmap.png" in page and "fig7_visual.png" in page
