"""The report's pieces: tables rendered from the tables stage's CSVs, the plots, cost/quality points."""

import pandas as pd
import pytest

from hst.paper import plots
from hst.errors import DataError
from hst.paper.report import cost_points, table_html
from hst.paper.tables import write_table

PNG = b"\x89PNG\r\n\x1a\n"


def test_table_html_renders_the_csv_with_its_header_lines(tmp_path):
    df = pd.DataFrame({"method": ["HST-tiny [synthetic twins]"], "PSNR": ["30.12"]})
    write_table(tmp_path, "table9", "Table 9. A test", ["data: SYNTHETIC TWINS", "recipe: short"], df, ["a note"])
    page = table_html(tmp_path / "table9.csv")
    assert "<h2>Table 9. A test</h2>" in page and "SYNTHETIC TWINS" in page and "a note" in page
    assert "<table" in page and "<td>30.12</td>" in page and "HST-tiny [synthetic twins]" in page


def test_table_html_refuses_a_csv_without_header_lines(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="no '# ' header lines"):
        table_html(tmp_path / "x.csv")


def test_cost_points_match_methods_across_tables(tmp_path):
    pd.DataFrame({"model": ["HST-tiny", "PReNet", "MPRNet (deraining config)", "MPRNet (deblurring config)"],
                  "params": [6e6, 1.7e5, 3.6e6, 2e7], "gmacs_256": [23.0, 66.0, 141.0, 759.0]}).to_csv(tmp_path / "table1.csv", index=False)
    pd.DataFrame({"method": ["PreNet", "MPRNet", "HST-tiny [synthetic twins]"],
                  "Average PSNR": [29.42, 32.73, 25.0]}).to_csv(tmp_path / "table3.csv", index=False)
    pd.DataFrame({"method": ["MPRNet", "HST-tiny [synthetic twins]"], "GoPro PSNR": [32.66, None]}).to_csv(tmp_path / "table4.csv", index=False)
    pts = cost_points(tmp_path)
    derain = pts[pts.task.str.startswith("deraining")].set_index("method")
    assert set(derain.index) == {"HST-tiny", "PReNet", "MPRNet (deraining config)"}
    assert derain.loc["PReNet", "psnr"] == 29.42 and bool(derain.loc["HST-tiny", "ours"])
    deblur = pts[pts.task.str.startswith("deblurring")]
    assert list(deblur.method) == ["MPRNet (deblurring config)"]  # HST has no GoPro value: no point
    assert plots.cost_quality(pts)[:8] == PNG


def test_cost_points_take_the_mean_row_of_seeded_runs_and_skip_models_a_table_lacks(tmp_path):
    pd.DataFrame({"model": ["HST-tiny", "HST-double"], "params": [6e6, 1e7],
                  "gmacs_256": [23.0, 40.0]}).to_csv(tmp_path / "table1.csv", index=False)
    label = "HST-tiny [synthetic twins]"
    pd.DataFrame({"method": [f"{label}, seed 0", f"{label}, seed 1", f"{label}, mean of 2 seeds",
                             f"{label}, 95% CI half-width"],
                  "Average PSNR": [25.0, 27.0, 26.0, 12.7]}).to_csv(tmp_path / "table3.csv", index=False)
    pd.DataFrame({"method": ["MPRNet"], "GoPro PSNR": [32.66]}).to_csv(tmp_path / "table4.csv", index=False)
    pts = cost_points(tmp_path)  # HST-double is in neither Table 3 nor 4: no point, no error
    assert pts[["method", "psnr"]].values.tolist() == [["HST-tiny", 26.0]]


def test_plots_are_pngs_and_bad_input_is_a_clear_error():
    log = pd.DataFrame({"iteration": [2, 4], "loss": [0.3, 0.2], "lr": [1e-3, 1e-4]})
    assert plots.training_curves({"derain-tiny": log, "deblur-tiny": log})[:8] == PNG
    assert plots.psnr_distributions({"Rain100H": {"input": [15.0, 16.0], "derain-tiny": [17.0, 18.5]}})[:8] == PNG
    with pytest.raises(DataError, match="lacks column"):
        plots.training_curves({"x": log.drop(columns="lr")})
    with pytest.raises(DataError, match="no training logs"):
        plots.training_curves({})


def test_cli_bad_input_is_one_clear_line(tmp_path, capsys):
    from hst.cli import main

    assert main(["report", "table", "--csv", str(tmp_path / "none.csv"), "-o", str(tmp_path / "t.html")]) == 2
    assert main(["report", "claims", "-o", str(tmp_path / "c.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {tmp_path / 'none.csv'}: unreadable (No such file or directory)",
                   "error: report claims: needs --tables --readings --study"]


def test_claims_read_the_tables_and_compare_with_the_paper(tmp_path):
    from hst.paper.report import claims

    pd.DataFrame({"model": ["HST-tiny", "HST-double"], "params": [519, 1000]}).to_csv(tmp_path / "table1.csv", index=False)
    pd.DataFrame({"method": ["RESCAN", "PreNet", "MSPFN", "HST-tiny [synthetic twins]"],
                  "in paper's Table 3": [True, True, False, False],
                  "Test100 PSNR": [25.00, 24.81, 27.50, 27.00], "Average PSNR": [28.59, 29.42, 30.75, 30.00]}
                 ).to_csv(tmp_path / "table3.csv", index=False)
    pd.DataFrame({"model": ["degraded input", "HST-tiny", "HST-double"], "training time (s)": [None, 55.3, 100.0]}
                 ).to_csv(tmp_path / "table5.csv", index=False)
    rows = {c["paper"]: c["ours"] for c in claims(tmp_path, real=True)}
    assert rows["48.1%"].startswith("48.1% (519 vs 1,000)")
    assert rows["44.7%"].startswith("44.7% (55.3 s vs 100.0 s)")
    assert rows["+1.10 dB"].startswith("+0.58 dB (HST-tiny [synthetic twins] 30.00 vs PreNet 29.42")
    assert rows["+2.97 dB"].startswith("+2.00 dB (HST-tiny [synthetic twins] 27.00 vs RESCAN 25.00")  # MSPFN is not in Table 3
    # Scored on synthetic twins: the same numbers are not set against the published real-set ones.
    twins = {c["paper"]: c["ours"] for c in claims(tmp_path, real=False)}
    for claim, value in (("+1.10 dB", "30.00"), ("+2.97 dB", "27.00")):
        assert twins[claim].startswith(f"not comparable: HST-tiny [synthetic twins] {value} dB is on synthetic twins")
        assert " vs " not in twins[claim] and "+" not in twins[claim]
    assert twins["48.1%"] == rows["48.1%"] and twins["44.7%"] == rows["44.7%"]  # counts and times: one source


def test_claims_read_single_seed_rows_of_table_5(tmp_path):
    from hst.paper.report import claims

    pd.DataFrame({"model": ["HST-tiny", "HST-double"], "params": [519, 1000]}).to_csv(tmp_path / "table1.csv", index=False)
    pd.DataFrame({"method": ["PreNet"], "in paper's Table 3": [True], "Test100 PSNR": [24.81],
                  "Average PSNR": [29.42]}).to_csv(tmp_path / "table3.csv", index=False)
    pd.DataFrame({"model": ["degraded input", "HST-tiny", "HST-double"], "seeds": ["", "seed 0 only", "seed 0 only"],
                  "training time (s)": [None, 50.0, 100.0]}).to_csv(tmp_path / "table5.csv", index=False)
    rows = {c["paper"]: c["ours"] for c in claims(tmp_path, real=False)}
    assert rows["44.7%"] == "50.0% (50.0 s vs 100.0 s)"
    assert rows["+1.10 dB"] == "not in this study"  # Table 3 has no HST row
