"""The real entry point, end to end, on a scratch copy of etch42."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pytest
from click.testing import CliRunner

from recipeopt.cli import cli
from tests.conftest import fake_results


def invoke(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    if ok:
        assert result.exit_code == 0, result.output
    return result


def suggest_and_record(etch42, tmp_path, tag: str) -> pd.DataFrame:
    out = tmp_path / f"batch-{tag}.csv"
    invoke("suggest", etch42, "--out", out)
    batch = pd.read_csv(out)
    fake_results(batch).to_csv(tmp_path / f"results-{tag}.csv", index=False)
    result = invoke("record", etch42, tmp_path / f"results-{tag}.csv")
    assert f"Recorded {len(batch)} runs." in result.output
    return batch


def test_loop_end_to_end(etch42, tmp_path):
    suggest_and_record(etch42, tmp_path, "1")
    suggest_and_record(etch42, tmp_path, "2")
    result = invoke("suggest", etch42, "--format", "json")
    batch = json.loads(result.stdout)
    assert [r["run_id"] for r in batch] == ["R009", "R010", "R011", "R012"]
    assert all(r["pred_yield"] is not None for r in batch)
    result = invoke("status", etch42)
    assert "8 complete" in result.output and "4 pending" in result.output
    assert "Best complete run" in result.output and "cross-validated RMSE" in result.output
    status = json.loads(invoke("status", etch42, "--format", "json").stdout)
    assert status["counts"]["complete"] == 8 and len(status["fit"]) == 6  # 3 metrics x 2 models
    assert {row["model"] for row in status["fit"]} == {"ensemble", "gp"}
    assert 0.0 <= status["outlook"]["chance"] <= 1.0
    export = tmp_path / "all.csv"
    invoke("export", etch42, "--out", export)
    runs = pd.read_csv(export)
    assert len(runs) == 12 and runs["status"].value_counts().to_dict() == {
        "complete": 8,
        "pending": 4,
    }
    assert runs.loc[runs.run_id == "R009", "method"].item() == "ensemble"


def test_suggestion_csv_can_be_filled_in_and_recorded(etch42, tmp_path):
    out = tmp_path / "batch.csv"
    invoke("suggest", etch42, "-o", out, "-f", "csv")
    batch = pd.read_csv(out, keep_default_na=False)
    params = list(batch.columns[2:17])
    after = list(batch.columns[17:22])
    assert after == ["yield", "uniformity", "defects", "status", "note"]  # ready to fill in
    assert (batch[after] == "").all().all()
    empty = invoke("record", etch42, out, ok=False)  # recorded unfilled: says so
    assert empty.exit_code == 1 and "every row is still empty" in empty.output
    metrics = ["yield", "uniformity", "defects"]
    batch[metrics] = fake_results(batch.assign(**{p: batch[p] for p in params}))[metrics]
    batch.to_csv(out, index=False)
    invoke("record", etch42, out)
    runs = pd.read_csv(io.StringIO(invoke("export", etch42).stdout))
    assert runs["status"].eq("complete").all()
    assert runs["yield"].notna().all()


def test_bad_results_file_leaves_export_unchanged_byte_for_byte(etch42, tmp_path):
    suggest_and_record(etch42, tmp_path, "1")
    out = tmp_path / "batch.csv"
    invoke("suggest", etch42, "--out", out)
    before = invoke("export", etch42).stdout_bytes
    bad = fake_results(pd.read_csv(out)).astype({"yield": object})
    bad.loc[3, "yield"] = "n/a"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    result = invoke("record", etch42, tmp_path / "bad.csv", ok=False)
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "bad.csv, line 5 (run R008), column yield: 'n/a' is not a number" in result.output
    assert invoke("export", etch42).stdout_bytes == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("suggest", "{c}", "--fix", "pressure"), "must look like NAME=VALUE"),
        (("suggest", "{c}", "--fix", "pressure=900"), "outside bounds"),
        (("suggest", "{c}", "--fix", "nope=1"), "unknown parameter"),
        (("suggest", "{c}", "--batch", "0"), "between 1 and 256"),
        (("suggest", "{c}", "--batch", "10000"), "between 1 and 256"),
        (("suggest", "{c}", "--fix", "gap=25", "--fix", "gap=40"), "pinned twice"),
        (("suggest", "{c}", "--method", "ensemble"), "needs at least 2 complete runs"),
        (("suggest", "{c}", "--bogus"), "No such option"),
        (("record", "{c}", "/no/such/results.csv"), "no such results file"),
        (("status", "/no/such/campaign.yaml"), "no such campaign file"),
    ],
)
def test_errors_are_one_line_exit_1(etch42, args, fragment):
    result = invoke(*[a.format(c=etch42) for a in args], ok=False)
    assert result.exit_code == 1
    assert fragment in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "Traceback" not in result.output


def test_suggest_to_an_unwritable_path_stores_nothing(etch42, tmp_path):
    result = invoke("suggest", etch42, "--out", tmp_path / "no" / "such" / "x.csv", ok=False)
    assert result.exit_code == 1
    assert "Error: cannot write" in result.output and "nothing was stored" in result.output
    assert "None" not in result.output
    assert invoke("export", etch42).stdout.strip().count("\n") == 0  # the header only


def test_a_binary_campaign_file_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(bytes(range(256)))
    result = invoke("status", path, ok=False)
    assert result.exit_code == 1
    expected = f"Error: {path}: not a text file (not UTF-8); give the campaign's YAML file"
    assert result.output.strip() == expected


def test_off_spec_runs_are_recorded_flagged_and_listed_by_status(etch42, tmp_path):
    from tests.test_results import off_plan

    off_plan(gap=25.5).to_csv(tmp_path / "off.csv", index=False)
    refused = invoke("record", etch42, tmp_path / "off.csv", ok=False)
    assert refused.exit_code == 1 and "--allow-off-spec" in refused.output
    result = invoke("record", etch42, tmp_path / "off.csv", "--allow-off-spec")
    assert "flagged 1 off-spec, kept out of the model (R001)" in result.output
    status = json.loads(invoke("status", etch42, "--no-fit", "--format", "json").stdout)
    assert status["best"] is None
    assert status["excluded"] == [
        {
            "run_id": "R001",
            "status": "complete",
            "excluded": "off-spec: gap 25.5 is not a whole number (integer parameter)",
        }
    ]
    assert "kept out of the model" in invoke("status", etch42, "--no-fit").output


def test_invalid_spec_is_one_line(etch42):
    etch42.write_text(etch42.read_text().replace("bounds: [3, 80]", "bounds: [80, 3]"))
    result = invoke("suggest", etch42, ok=False)
    assert result.exit_code == 1
    assert (
        "parameters.pressure.bounds: lower (80) must be below upper (3); swap them" in result.output
    )


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from recipeopt.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0 and 'suggest' in r.output, r.output\n"
        "heavy = [m for m in ('torch', 'botorch', 'pandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
