"""Probe the command line with bad inputs: one-line errors, tracebacks, store unchanged.

Every case is a bad input a process engineer could give: a results file with
impossible metrics or a recipe that breaks the plan, a broken or edited
campaign YAML, a wrong option. Each runs through the real entry point on a
fresh copy of a campaign with one recorded batch and one pending batch, and
is scored on four counts:

* **one-line error**: exit code 1 and exactly one output line, ``Error: ...``;
* **traceback**: an exception escaped (CliRunner caught it) or "Traceback" printed;
* **store unchanged**: every stored row is byte-for-byte the same afterwards;
* **wrong data accepted**: the command exited 0.

Run:
    python -m benchmarks.bad_inputs [--verbose]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from recipeopt.campaign import Campaign
from recipeopt.cli import cli

ROOT = Path(__file__).resolve().parents[1]
#: A feasible etch42 recipe on every step grid, and good metrics for it.
RECIPE = {
    "source_power": 1400,
    "bias_power": 500,
    "pressure": 20,
    "cf4_flow": 50,
    "chf3_flow": 20,
    "c4f8_flow": 10,
    "o2_flow": 10,
    "ar_flow": 100,
    "chuck_temp": 20,
    "wall_temp": 60,
    "he_pressure": 10,
    "gap": 30,
    "pulse_duty": 50,
    "center_edge_split": 0.5,
    "etch_time": 100,
}
GOOD = {"yield": 70, "uniformity": 95, "defects": 0.2}


@dataclass
class Case:
    """One bad input: a name, how to prepare it in the folder, and the command line."""

    name: str
    prepare: Callable[[Path], None]
    args: list[str]


def results(*rows: dict, name: str = "r.csv") -> Callable[[Path], None]:
    """Write a results CSV with ``rows`` (``{...}`` cells) into the folder."""

    def prepare(folder: Path) -> None:
        pd.DataFrame(list(rows)).to_csv(folder / name, index=False)

    return prepare


def raw(text: str | bytes, name: str = "r.csv") -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        path = folder / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return prepare


def yaml_edit(old: str, new: str) -> Callable[[Path], None]:
    """Replace ``old`` by ``new`` in the campaign YAML (the edit must apply)."""

    def prepare(folder: Path) -> None:
        path = folder / "etch42.yaml"
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))

    return prepare


def nothing(folder: Path) -> None:
    pass


def pending_row(**cells: object) -> dict:
    """A row for the first pending run (R005) with good metrics, then ``cells``."""
    return {"run_id": "R005", **GOOD, **cells}


def off_plan(**cells: object) -> dict:
    return {**RECIPE, **GOOD, **cells}


C = "etch42.yaml"
RECORD = ["record", C, "r.csv"]
NEW_PARAM = "  - {name: rf_freq, unit: MHz, bounds: [2, 13], step: 0.5}\n\nobjective:"

CASES = [
    # -- results files: metrics -------------------------------------------------
    Case("yield -5", results(pending_row(**{"yield": -5})), RECORD),
    Case("yield 150", results(pending_row(**{"yield": 150})), RECORD),
    Case("uniformity 101", results(pending_row(uniformity=101)), RECORD),
    Case("defects -0.3", results(pending_row(defects=-0.3)), RECORD),
    Case("yield 100.5 on an off-plan run", results(off_plan(**{"yield": 100.5})), RECORD),
    Case(
        "yield -1 on a failed run", results(pending_row(status="failed", **{"yield": -1})), RECORD
    ),
    Case("yield text", results(pending_row(**{"yield": "abc"})), RECORD),
    Case("yield with a % sign", results(pending_row(**{"yield": "71%"})), RECORD),
    Case("yield nan", results(pending_row(**{"yield": "nan"})), RECORD),
    Case("yield inf", results(pending_row(**{"yield": "inf"})), RECORD),
    Case("defects -inf", results(pending_row(defects="-inf")), RECORD),
    Case("yield 1e400", results(pending_row(**{"yield": "1e400"})), RECORD),
    Case("a complete run without uniformity", results(pending_row(uniformity="")), RECORD),
    Case("status done", results(pending_row(status="done")), RECORD),
    Case("status pending with metrics", results(pending_row(status="pending")), RECORD),
    # -- results files: rows and columns --------------------------------------
    Case("unknown run R999", results(pending_row(run_id="R999")), RECORD),
    Case("run listed twice", results(pending_row(), pending_row()), RECORD),
    Case("misspelled column", results(pending_row(yeild=50)), RECORD),
    Case("already recorded run", results(pending_row(run_id="R001")), RECORD),
    Case(
        "off-plan row without gap",
        results({k: v for k, v in off_plan().items() if k != "gap"}),
        RECORD,
    ),
    Case(
        "semicolon-separated file", raw("run_id;yield;uniformity;defects\nR005;70;95;0.2\n"), RECORD
    ),
    Case(
        "tab-separated file", raw("run_id\tyield\tuniformity\tdefects\nR005\t70\t95\t0.2\n"), RECORD
    ),
    Case(
        "duplicate column",
        raw("run_id,yield,yield,uniformity,defects\nR005,70,71,95,0.2\n"),
        RECORD,
    ),
    Case("empty file", raw(""), RECORD),
    Case("header only", raw("run_id,yield,uniformity,defects\n"), RECORD),
    Case(
        "all rows still empty", raw("run_id,yield,uniformity,defects\nR005,,,\nR006,,,\n"), RECORD
    ),
    Case("binary results file", raw(bytes(range(256)) * 4), RECORD),
    Case("results file missing", nothing, ["record", C, "missing.csv"]),
    Case("results path is a folder", lambda f: (f / "dir.csv").mkdir(), ["record", C, "dir.csv"]),
    Case("thousands separator", results(off_plan(source_power="1,400")), RECORD),
    # -- results files: setpoints ---------------------------------------------
    Case("pressure 500 outside bounds (as run)", results(pending_row(pressure=500)), RECORD),
    Case("gap 25.5 on an integer parameter", results(off_plan(gap=25.5)), RECORD),
    Case("etch_time 30.5 on an integer parameter", results(off_plan(etch_time=30.5)), RECORD),
    Case("pressure 20.25 off the 0.5 step", results(off_plan(pressure=20.25)), RECORD),
    Case("pulse_duty 52 off the 5 step", results(off_plan(pulse_duty=52)), RECORD),
    Case("he_pressure 10.25 off the 0.5 step", results(off_plan(he_pressure=10.25)), RECORD),
    Case(
        "total flow over 300 sccm",
        results(off_plan(cf4_flow=150, chf3_flow=150, o2_flow=10)),
        RECORD,
    ),
    Case(
        "bias above 0.8 x source + 100", results(off_plan(source_power=300, bias_power=500)), RECORD
    ),
    Case(
        "as-run gap +0.5 on a planned run",
        lambda f: results(pending_row(**_as_run(f, "R005", gap=0.5)))(f),
        RECORD,
    ),
    Case(
        "pinned he_pressure changed",
        lambda f: (
            yaml_edit("step: 0.5}\n  - {name: gap", "step: 0.5, fixed: 10}\n  - {name: gap")(f),
            results(off_plan(he_pressure=12))(f),
        ),
        RECORD,
    ),
    Case("unknown categorical label (dep7)", nothing, ["record", "dep7.yaml", "dep.csv"]),
    # -- campaign YAML ---------------------------------------------------------
    Case("binary campaign file", raw(bytes(range(256)), name="etch42.yaml"), ["status", C]),
    Case("empty campaign file", raw("", name="etch42.yaml"), ["status", C]),
    Case("campaign is a YAML list", raw("- a\n- b\n", name="etch42.yaml"), ["status", C]),
    Case("YAML syntax error", yaml_edit("bounds: [3, 80]", "bounds: [3, 80"), ["status", C]),
    Case("bounds reversed", yaml_edit("bounds: [3, 80]", "bounds: [80, 3]"), ["status", C]),
    Case(
        "step does not divide",
        yaml_edit("bounds: [3, 80], step: 0.5", "bounds: [3, 80], step: 0.3"),
        ["status", C],
    ),
    Case(
        "categorical with one choice",
        yaml_edit(
            "  - {name: etch_time", "  - {name: chamber, choices: [A]}\n  - {name: etch_time"
        ),
        ["status", C],
    ),
    Case(
        "categorical choice listed twice",
        yaml_edit(
            "  - {name: etch_time", "  - {name: chamber, choices: [A, A]}\n  - {name: etch_time"
        ),
        ["status", C],
    ),
    Case("duplicate parameter", yaml_edit("name: ar_flow", "name: o2_flow"), ["status", C]),
    Case("unknown field", yaml_edit("batch_size: 4", "batch_size: 4\nbatchsize: 4"), ["status", C]),
    Case("missing name", yaml_edit("name: etch42\n", ""), ["status", C]),
    Case("negative weight", yaml_edit("weight: 0.6", "weight: -0.6"), ["status", C]),
    Case(
        "every weight zero",
        lambda f: [yaml_edit(f"weight: {w}", "weight: 0")(f) for w in ("0.6", "0.3", "0.1")],
        ["status", C],
    ),
    Case("range against direction", yaml_edit("range: [0, 100]", "range: [100, 0]"), ["status", C]),
    Case(
        "limits reversed",
        yaml_edit("range: [0, 100]}", "range: [0, 100], limits: [100, 0]}"),
        ["status", C],
    ),
    Case(
        "log scale from 0",
        yaml_edit("bounds: [0, 50], step: 1}", "bounds: [0, 50], step: 1, scale: log}"),
        ["status", C],
    ),
    Case(
        "fixed outside bounds",
        yaml_edit("bounds: [4, 20], step: 0.5}", "bounds: [4, 20], step: 0.5, fixed: 25}"),
        ["status", C],
    ),
    Case(
        "infeasible constraints", yaml_edit('+ o2_flow <= 300"', '+ o2_flow <= -5"'), ["status", C]
    ),
    Case(
        "constraint names an unknown parameter",
        yaml_edit('+ o2_flow <= 300"', '+ n2_flow <= 300"'),
        ["status", C],
    ),
    Case(
        "outcome constraint as an equality",
        yaml_edit(
            "objective:\n  metrics:", 'objective:\n  constraints: ["defects == 0.5"]\n  metrics:'
        ),
        ["status", C],
    ),
    Case("batch_size 0", yaml_edit("batch_size: 4", "batch_size: 0"), ["status", C]),
    Case(
        "history matches no file",
        yaml_edit("history/etch42/*.csv", "history/nope/*.csv"),
        ["status", C],
    ),
    Case(
        "maml-ensemble without history",
        yaml_edit("model: {method: ensemble}", "model: {method: maml-ensemble}\nhistory: []"),
        ["status", C],
    ),
    Case(
        "invalid storage URL",
        yaml_edit("batch_size: 4", "batch_size: 4\nstorage: 'nope://x'"),
        ["status", C],
    ),
    Case(
        "unreachable PostgreSQL",
        yaml_edit(
            "batch_size: 4", "batch_size: 4\nstorage: 'postgresql+psycopg://u@127.0.0.1:1/db'"
        ),
        ["status", C],
    ),
    Case("campaign file missing", nothing, ["status", "nope.yaml"]),
    Case("campaign path is a folder", lambda f: (f / "d.yaml").mkdir(), ["status", "d.yaml"]),
    Case(
        "new parameter without default", yaml_edit("\nobjective:", "\n" + NEW_PARAM), ["status", C]
    ),
    Case(
        "new parameter with a text default",
        yaml_edit(
            "\nobjective:", "\n" + NEW_PARAM.replace("step: 0.5}", "step: 0.5, default: abc}")
        ),
        ["status", C],
    ),
    Case(
        "new parameter without default, then suggest",
        yaml_edit("\nobjective:", "\n" + NEW_PARAM),
        ["suggest", C],
    ),
    # -- options -----------------------------------------------------------------
    Case(
        "--fix twice with two values", nothing, ["suggest", C, "--fix", "gap=25", "--fix", "gap=40"]
    ),
    Case("--fix gap=25.5", nothing, ["suggest", C, "--fix", "gap=25.5"]),
    Case("--fix pressure=900", nothing, ["suggest", C, "--fix", "pressure=900"]),
    Case("--fix unknown parameter", nothing, ["suggest", C, "--fix", "nope=1"]),
    Case("--fix without a value", nothing, ["suggest", C, "--fix", "pressure"]),
    Case("--fix pressure=abc", nothing, ["suggest", C, "--fix", "pressure=abc"]),
    Case("--batch 0", nothing, ["suggest", C, "--batch", "0"]),
    Case("--batch -3", nothing, ["suggest", C, "--batch", "-3"]),
    Case("--batch 10000", nothing, ["suggest", C, "--batch", "10000"]),
    Case("--method bogus", nothing, ["suggest", C, "--method", "bogus"]),
    Case("--same-in-batch unknown", nothing, ["suggest", C, "--same-in-batch", "nope"]),
    Case("--seed text", nothing, ["suggest", C, "--seed", "abc"]),
    Case(
        "suggest --out into a missing folder", nothing, ["suggest", C, "--out", "no/such/dir/x.csv"]
    ),
    Case(
        "suggest --out onto a folder",
        lambda f: (f / "o.csv").mkdir(),
        ["suggest", C, "--out", "o.csv"],
    ),
    Case("export --out into a missing folder", nothing, ["export", C, "--out", "no/such/x.csv"]),
    Case("status --format bogus", nothing, ["status", C, "--format", "bogus"]),
]


def _as_run(folder: Path, run_id: str, **offsets: float) -> dict:
    """The planned setpoints of ``run_id``, each shifted by its ``offsets``."""
    c = Campaign.load(folder / "etch42.yaml")
    runs = c.runs().set_index("run_id")
    c.close()
    planned = {k: float(v) for k, v in runs.loc[run_id, c.space.names].items()}
    return {k: v + offsets.get(k, 0.0) for k, v in planned.items()}


def make_template(folder: Path) -> None:
    """etch42 (scratch ensemble) with one recorded Sobol batch and one pending; dep7 likewise."""
    for name in ("etch42", "dep7"):
        text = (ROOT / "campaigns" / f"{name}.yaml").read_text()
        (folder / f"{name}.yaml").write_text(text + "model: {method: ensemble}\n")
    (folder / "history").symlink_to(ROOT / "campaigns" / "history", target_is_directory=True)
    c = Campaign.load(folder / "etch42.yaml")
    first = c.suggest()
    c.record(first[["run_id"]].assign(**GOOD))
    c.suggest()
    c.close()
    dep = Campaign.load(folder / "dep7.yaml")
    batch = dep.suggest()
    dep.close()
    batch[["run_id"]].assign(chemistry="XeF2/Ar", **GOOD).to_csv(folder / "dep.csv", index=False)


def store_digest(folder: Path) -> str:
    """A hash of every stored row of every campaign store in the folder."""
    digest = hashlib.sha256()
    for db in sorted(folder.glob("*.db")):
        with sqlite3.connect(db) as connection:
            for row in connection.execute("SELECT * FROM runs ORDER BY id"):
                digest.update(repr(row).encode())
    return digest.hexdigest()


def run_case(template: Path, case: Case, work: Path) -> dict:
    folder = work / "case"
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(template, folder, symlinks=True)
    case.prepare(folder)
    before = store_digest(folder)
    runner = CliRunner()
    import os

    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = runner.invoke(cli, case.args)
    finally:
        os.chdir(cwd)
    lines = [line for line in result.output.splitlines() if line.strip()]
    escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
    return {
        "case": case.name,
        "exit": result.exit_code,
        "one_line_error": result.exit_code == 1
        and len(lines) == 1
        and lines[0].startswith("Error: "),
        "traceback": escaped or "Traceback" in result.output,
        "store_unchanged": store_digest(folder) == before,
        "wrong_data_accepted": result.exit_code == 0,
        "output": " | ".join(lines)[:200] if not escaped else repr(result.exception)[:200],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="Print every case's output.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        template = work / "template"
        template.mkdir()
        make_template(template)
        rows = [run_case(template, case, work) for case in CASES]
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 250, "display.max_colwidth", 120):
        shown = table if args.verbose else table[~table["one_line_error"] | table["traceback"]]
        if len(shown):
            print(shown.to_string(index=False))
    print(
        f"\nbad-input cases: {len(table)}; one-line errors: {int(table.one_line_error.sum())}; "
        f"tracebacks: {int(table.traceback.sum())}; store unchanged on error: "
        f"{int(table.store_unchanged.sum())} of {len(table)}; "
        f"wrong data accepted: {int(table.wrong_data_accepted.sum())}"
    )


if __name__ == "__main__":
    main()
