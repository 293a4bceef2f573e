"""Tables from per-run CSVs: several seeds give mean +- 95% CI and paired differences; per-seed rows stay in the CSV."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hst.study import Study
from hst.tables import Results, table3, table5, table6, write_table

DEFAULT = yaml.safe_load(open("config/config.yaml"))
T975_2 = 4.302652729749464  # Student t(0.975, 2 degrees of freedom)

# Rain100H PSNR per (configuration, seed): max is 0.5 dB below stochastic on every seed (significant),
# avg scatters around it (not significant).
PSNR = {
    "ablation-tiny-stochastic": [20.0, 20.4, 20.2],
    "ablation-double-stochastic": [20.6, 20.2, 21.0],
    "ablation-tiny-max": [19.5, 19.9, 19.7],
    "ablation-tiny-avg": [20.5, 19.9, 20.3],
}


def write_summary(root: Path, run: str, test_set: str, psnr: float, ssim: float) -> None:
    folder = root / "eval" / run / test_set
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"set": test_set, "protocol": "derain", "images": 4, "psnr": psnr, "ssim": ssim}]).to_csv(
        folder / "summary.csv", index=False)


@pytest.fixture
def results(tmp_path):
    config = json.loads(json.dumps(DEFAULT))
    config["experiments"]["ablation"].update(samplers=["stochastic", "max", "avg"], seeds=[0, 1, 2])
    config["experiments"]["derain"]["seeds"] = [0, 1]
    study = Study(config)
    (tmp_path / "study.json").write_text(json.dumps(study.describe()))
    for name, run in study.runs.items():
        seed = run.seed or 0
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        record = {"seed": seed, "params": 2 if run.variant == "double" else 1,
                  "train_seconds": (200.0 if run.variant == "double" else 100.0) + seed,
                  "config": {"schedule": {"iterations": 10, "epochs": None}, "optim": {"batch_size": 2, "lr": 1e-3, "lr_min": 0},
                             "data": {"patch_size": 32}}}
        (folder / "run.json").write_text(json.dumps(record))
        for i, test_set in enumerate(run.test_sets):
            psnr = PSNR[run.group][seed] if run.group in PSNR else 25.0 + i + seed
            write_summary(tmp_path, name, test_set, psnr, 0.5 + seed / 100)
    for i, test_set in enumerate(study.test_sets):
        write_summary(tmp_path, "input", test_set, 15.0 + i, 0.4)
    return Results(tmp_path / "study.json")


def test_table6_reports_mean_ci_and_paired_differences(results):
    df, notes, md = table6(results)
    seeds = df[df.seeds.str.startswith("seed")]
    assert len(seeds) == 9 and set(seeds.sampler) == {"stochastic", "max", "avg"}  # per-seed rows in the CSV
    assert not md.seeds.str.startswith("seed").any() or (md.model == "degraded input").any()
    mean = df[(df.sampler == "max") & (df.seeds == "mean of 3")].iloc[0]
    assert float(mean.PSNR) == pytest.approx(19.7, abs=0.005)
    assert float(mean["PSNR 95% CI"]) == pytest.approx(T975_2 * 0.2 / math.sqrt(3), abs=0.0005)
    # max - stochastic = -0.5 on every seed: sd 0, a zero-width interval excluding 0.
    assert float(mean["Δ PSNR vs HST-tiny stochastic"]) == pytest.approx(-0.5, abs=0.0005)
    assert mean["Δ verdict"] == "significant"
    avg = df[(df.sampler == "avg") & (df.seeds == "mean of 3")].iloc[0]
    assert avg["Δ verdict"] == "not significant"  # differences +0.5, -0.5, +0.1
    assert md[(md.sampler == "avg")].iloc[0]["PSNR"].count("±") == 1
    assert any("not significant" in n and "avg" in n for n in notes)
    stochastic = df[(df.sampler == "stochastic") & (df.seeds == "mean of 3")].iloc[0]
    assert stochastic["Δ verdict"] == ""  # the reference has no difference to itself


def test_table5_compares_double_with_tiny_and_averages_training_time(results):
    df, notes, md = table5(results)
    double = df[(df.model == "HST-double") & (df.seeds == "mean of 3")].iloc[0]
    assert float(double["Δ PSNR vs HST-tiny stochastic"]) == pytest.approx(0.4, abs=0.0005)  # +0.6, -0.2, +0.8
    assert double["Δ verdict"] == "not significant"
    assert float(double["training time (s)"]) == pytest.approx(201.0, abs=0.05)
    assert any("50.0% fewer parameters" in n and "49.8% less training time" in n for n in notes)
    assert len(df[df.seeds.str.startswith("seed")]) == 6 and int(double.params) == 2


def test_table3_gives_per_seed_mean_and_ci_rows(results, tmp_path):
    df, notes, md = table3(results)
    hst = df[df.method.str.startswith("HST")]
    assert list(hst.method.str.extract(r", (.*)$")[0]) == ["seed 0", "seed 1", "mean of 2 seeds", "95% CI half-width"]
    mean = hst[hst.method.str.contains("mean")].iloc[0]
    assert float(mean["Test100 PSNR"]) == pytest.approx(25.5, abs=0.005)
    ci = hst[hst.method.str.contains("CI")].iloc[0]
    assert float(ci["Test100 PSNR"]) == pytest.approx(12.706204736174698 * math.sqrt(0.5) / math.sqrt(2), abs=0.005)
    md_hst = md[md.method.str.startswith("HST")]
    assert len(md_hst) == 1 and "±" in md_hst.iloc[0]["Average PSNR"]
    write_table(tmp_path, "t3", "Table 3", ["h"], df, notes, md)
    text = (tmp_path / "t3.md").read_text()
    assert "| HST-tiny [synthetic twins], seed 0" not in text and "| HST-tiny [synthetic twins], mean of 2 seeds" in text
    assert "mean of 2 seeds: five-set average 27.50 dB" in text and "seed 0: five-set" not in text
    assert "seed 0" in (tmp_path / "t3.csv").read_text()
