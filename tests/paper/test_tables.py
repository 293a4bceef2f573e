"""Tables from per-run CSVs: several seeds give mean +- 95% CI and paired differences; per-seed rows stay in the CSV;
a study of another shape (one experiment, one sampler, one seed) gets every table, saying what it left out."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from hst.study import Study
from hst.paper.report import table_html
from hst.paper.tables import TABLES, Results, is_per_seed_row, read_csv, table3, table4, table5, table6, write_table

DEFAULT = yaml.safe_load(open("config/config.yaml"))
T975_2 = 4.302652729749464  # Student t(0.975, 2 degrees of freedom)

# Rain100H PSNR per (configuration, seed): max is 0.5 dB below stochastic on every seed (significant),
# avg scatters around it (not significant).
PSNR = {
    "ablation-tiny-stochastic": [20.0, 20.4, 20.2],
    "ablation-double-stochastic": [20.6, 20.2, 21.0],
    "ablation-tiny-max": [19.5, 19.9, 19.7],
    "ablation-tiny-avg": [20.5, 19.9, 20.3],
    "ablation-prenet": [20.9, 21.1, 21.4],  # +0.9, +0.7, +1.2 over tiny stochastic: significant
    "derain-prenet": [24.0, 24.5],  # every set; HST-tiny has 25 + set index + seed
}


def write_summary(root: Path, run: str, test_set: str, psnr: float, ssim: float) -> None:
    folder = root / "eval" / run / test_set
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"set": test_set, "protocol": "derain", "images": 4, "psnr": psnr, "ssim": ssim}]).to_csv(
        folder / "summary.csv", index=False)


def make_results(tmp_path: Path, config: dict) -> Results:
    """What the pipeline writes for the study ``config`` (runs, scores, study.json), read back."""
    study = Study(config)
    (tmp_path / "study.json").write_text(json.dumps(study.describe()))
    for name, run in study.runs.items():
        seed = run.seed or 0
        folder = tmp_path / "runs" / name
        folder.mkdir(parents=True)
        record = {"seed": seed, "params": 3 if run.baseline else 2 if run.variant == "double" else 1,
                  "train_seconds": (200.0 if run.variant == "double" else 100.0) + seed,
                  "config": {"schedule": {"iterations": 10, "epochs": None}, "optim": {"batch_size": 2, "lr": 1e-3, "lr_min": 0},
                             "data": {"patch_size": 32}, "loss": {"name": "l1"}}}
        if run.baseline:
            record["config"]["optim"] |= {"decay": "step", "milestones": [0.3, 0.5, 0.8], "gamma": 0.2}
            record["config"]["loss"]["name"] = "neg_ssim"
        (folder / "run.json").write_text(json.dumps(record))
        for i, test_set in enumerate(run.test_sets):
            psnr = PSNR[run.group][seed] if run.group in PSNR else 25.0 + i + seed
            write_summary(tmp_path, name, test_set, psnr, 0.5 + seed / 100)
    for i, test_set in enumerate(study.test_sets):
        write_summary(tmp_path, "input", test_set, 15.0 + i, 0.4)
    return Results(tmp_path / "study.json")


@pytest.fixture
def results(tmp_path):
    config = json.loads(json.dumps(DEFAULT))
    config["experiments"]["ablation"].update(samplers=["stochastic", "max", "avg"], seeds=[0, 1, 2])
    config["experiments"]["derain"]["seeds"] = [0, 1]
    return make_results(tmp_path, config)


def test_table6_reports_mean_ci_and_paired_differences(results):
    df, notes, md = table6(results)
    seeds = df[df.seeds.str.startswith("seed")]
    assert len(seeds) == 9 and set(seeds.sampler) == {"stochastic", "max", "avg"}  # per-seed rows in the CSV
    assert not md.seeds.map(is_per_seed_row).any() and len(md[md.seeds == "mean of 3"]) == 3  # Markdown: means only
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
    assert len(df[df.seeds.str.startswith("seed")]) == 9 and int(double.params) == 2
    # The baseline retrained beside them: paired with HST-tiny over the same three seeds.
    prenet = df[(df.model == "PReNet (retrained here)") & (df.seeds == "mean of 3")].iloc[0]
    assert float(prenet["Δ PSNR vs HST-tiny stochastic"]) == pytest.approx(0.9333, abs=0.0005)
    assert prenet["Δ verdict"] == "significant" and int(prenet.params) == 3
    assert any(n.startswith("PReNet (retrained here) - HST-tiny stochastic on Rain100H: +0.933 dB, 95% CI") for n in notes)
    assert "PReNet (retrained here)" in set(md.model)


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
    # PReNet retrained here: its rows beside HST's, and the paired difference over the two seeds in the notes.
    assert "| PReNet [retrained here, synthetic twins], mean of 2 seeds" in text
    assert "PReNet - HST-tiny on Test100: -1.25 dB PSNR, 95% CI [-4.43, +1.93] over 2 paired seeds: not significant." in text
    header = " ".join(results.header())
    assert "PReNet (retrained here): 10 iterations, batch 2, 32x32 patches, lr 0.001 x0.2 at 30/50/80% of the run, loss neg_ssim" in header


def shaped(tmp_path: Path, **experiments) -> Results:
    """The default study with only ``experiments`` (each a dict of edits to the default's entry, or None)."""
    config = json.loads(json.dumps(DEFAULT))
    config["experiments"] = {k: {**config["experiments"][k], **(v or {})} for k, v in experiments.items()}
    return make_results(tmp_path, config)


def test_single_seed_tables_5_and_6_have_one_row_per_configuration(tmp_path):
    res = shaped(tmp_path, ablation={"samplers": ["stochastic", "max"], "seeds": [0]})
    for build, configs in ((table5, 3), (table6, 2)):  # Table 5: HST-tiny, HST-double, PReNet
        df, notes, md = build(res)
        hst = df[df.model != "degraded input"]
        assert len(hst) == configs and list(hst.seeds) == ["seed 0 only"] * configs, hst
        assert len(md[md.model != "degraded input"]) == configs
        assert not hst.seeds.map(is_per_seed_row).any()
    df, notes, _ = table6(res)
    assert float(df[df.sampler == "max"].iloc[0]["Δ PSNR vs HST-tiny stochastic"]) == pytest.approx(-0.5, abs=0.0005)
    assert any("(one seed: no interval)" in n for n in notes)


def test_derain_only_study_writes_every_table_readable_and_says_what_it_left_out(tmp_path):
    res = shaped(tmp_path, derain={"test_sets": ["Rain100H", "Rain100L"]})
    out = tmp_path / "tables"
    for i in range(3, 7):  # as write_tables writes them (Tables 1, 2 do not depend on the experiments)
        title, build = TABLES[f"table{i}"]
        write_table(out, f"table{i}", title, res.header(), *build(res))
        read_csv(out / f"table{i}.csv")  # readable, header row and all, even without rows of ours
        assert "<table" in table_html(out / f"table{i}.csv")
    t5, t6 = read_csv(out / "table5.csv"), read_csv(out / "table6.csv")
    assert t5.empty and t6.empty and {"model", "sampler", "seeds", "PSNR", "training time (s)"} <= set(t5.columns)
    text = {i: (out / f"table{i}.md").read_text() for i in range(3, 7)}
    for i in (5, 6):
        assert f"not in this study: the study has no ablation experiment (experiments.ablation), so Table {i}" in text[i]
    assert "not in this study: the study has no deblur experiment" in text[4]
    assert "not in this study: Test100, Test2800, Test1200 (experiments.derain.test_sets); no Average" in text[3]
    header = res.header()[-1]
    assert header.startswith("not in this study: the deblur experiment") and "the ablation experiment" in header


def test_ablation_with_one_variant_and_sampler_names_the_missing_configurations(tmp_path):
    res = shaped(tmp_path, ablation={"variants": ["tiny"], "samplers": ["stochastic"], "seeds": [0, 1]})
    df5, notes5, _ = table5(res)
    df6, notes6, _ = table6(res)
    assert set(df5.model) == {"degraded input", "HST-tiny", "PReNet (retrained here)"} and set(df6.sampler) == {"", "stochastic"}
    assert "not in this study: HST-double stochastic (experiments.ablation.variants)." in notes5
    assert "not in this study: HST-tiny max, HST-tiny avg, HST-tiny grid (experiments.ablation.samplers)." in notes6
    assert not any("HST-tiny vs HST-double" in n for n in notes5)
    df3, notes3, _ = table3(res)
    assert not df3.method.str.startswith("HST").any()
    assert any(n.startswith("not in this study: the study has no derain experiment") for n in notes3)
    assert "Fig. 6 (needs a heatmap section" in res.header()[-1]


def test_table3_sets_no_twin_number_against_published_real_set_numbers(tmp_path):
    res = shaped(tmp_path, derain=None)
    _, notes, _ = table3(res)
    hst = [n for n in notes if n.startswith("HST-tiny")]
    assert len(hst) == 1 and "gap" not in hst[0].replace("no gap", "") and "on the synthetic twins" in hst[0]
    res.config["data"]["source"] = "real"  # the same numbers, had they been scored on the real sets
    _, notes, _ = table3(res)
    assert any("five-set average 27.00 dB; best baseline of Table 3" in n and "gap " in n for n in notes)


def test_deblur_only_study_leaves_table3_with_published_rows_only(tmp_path):
    res = shaped(tmp_path, deblur={"test_sets": ["GoPro-test"]})
    df3, notes3, _ = table3(res)
    assert len(df3) and not df3.method.str.startswith(("HST", "degraded")).any()
    df4, notes4, _ = table4(res)
    assert (df4.method == "HST-tiny [synthetic twins]").sum() == 1
    assert "not in this study: HIDE, RealBlur-R, RealBlur-J (experiments.deblur.test_sets)." in notes4


def test_table2_lists_the_studys_sets_only(tmp_path):
    """An edit that drops a test set leaves its old check report on disk: Table 2 must not list it."""
    from hst.paper.tables import table2

    config = json.loads(json.dumps(DEFAULT))
    config["experiments"] = {"derain": {**DEFAULT["experiments"]["derain"], "test_sets": ["Rain100H"]}}
    res = make_results(tmp_path, config)
    (tmp_path / "data").mkdir()
    for name in ("Rain13K", "Rain100H", "Rain100L"):  # Rain100L: left over from the study before the edit
        report = [{"expected": 2, "pairs": 2, "problems": [], "ok": True}]  # as `hst data check --json` writes
        (tmp_path / "data" / f"{name}.json").write_text(json.dumps(report))
    df, _, _ = table2(res)
    assert list(df["set"]) == ["Rain13K", "Rain100H"]


def test_long_results_hold_every_number_at_full_precision(results):
    from hst.paper.tables import RESULTS_COLUMNS, long_results

    df = long_results(results)
    assert list(df.columns) == RESULTS_COLUMNS
    prenet = df[(df.run == "ablation-prenet-s1") & (df.metric == "psnr")].iloc[0]
    assert prenet.value == 21.1 and prenet.model == "PReNet" and prenet.baseline == "prenet" and prenet.seed == 1
    hst = df[(df.run == "derain-tiny-s1") & (df.set == "Rain100L") & (df.metric == "psnr")].iloc[0]
    assert hst.value == 25.0 + 2 + 1 and hst.model == "HST-tiny" and hst.experiment == "derain"
    assert set(df[df.kind == "input"].set) == set(results.runs["derain-tiny-s0"]["test_sets"]) | {"GoPro-test", "HIDE", "RealBlur-R", "RealBlur-J"}
    seconds = df[(df.metric == "train_seconds") & (df.group == "ablation-double-stochastic")]
    assert sorted(seconds.value) == [200.0, 201.0, 202.0]
    # One row per (run, set, metric): nothing counted twice.
    assert not df.duplicated(["kind", "run", "set", "protocol", "metric"]).any()
