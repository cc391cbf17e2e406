"""Editing the campaign YAML between batches: added, narrowed and removed parameters."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recipeopt.campaign import Campaign
from recipeopt.exceptions import SpecError
from tests.conftest import ROOT, fake_results, scratch_copy

NEW_PARAMETER = "  - {name: rf_bias_freq, unit: MHz, type: continuous, bounds: [2, 13], step: 0.5"


def recorded(etch42: Path, batches: int = 2) -> Campaign:
    c = Campaign.load(etch42)
    for r in range(batches):
        c.record(fake_results(c.suggest(), seed=r))
    return c


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def add_parameter(path: Path, extra: str = "") -> None:
    edit(path, "\nobjective:", f"\n{NEW_PARAMETER}{extra}}}\n\nobjective:")


def test_a_new_parameter_needs_the_value_old_runs_used(etch42):
    recorded(etch42)
    add_parameter(etch42)
    c = Campaign.load(etch42)
    with pytest.raises(SpecError) as info:
        c.status(fit=False)
    message = str(info.value)
    assert "parameters.rf_bias_freq: 8 stored runs (R001, R002, R003, ...)" in message
    assert "add `default: VALUE`" in message
    exported = pd.read_csv(io.StringIO(c.export()))  # export never fails: the data stay reachable
    assert len(exported) == 8 and exported["rf_bias_freq"].isna().all()


def test_with_a_default_old_runs_take_it_and_the_gp_plans_with_them(etch42):
    recorded(etch42)
    add_parameter(etch42, ", default: 13")
    c = Campaign.load(etch42)
    runs = c.runs()
    assert (runs["rf_bias_freq"] == 13.0).all() and (runs["excluded"] == "").all()
    X, _ = c.training_data(runs)
    assert X.shape == (8, 16) and bool(np.isfinite(X.numpy()).all())
    batch = c.suggest(method="gp")
    assert len(batch) == 4 and batch["rf_bias_freq"].between(2, 13).all()


def test_runs_outside_narrowed_bounds_leave_the_model_and_best_but_stay_in_export(etch42):
    c = recorded(etch42)
    runs = c.runs()
    best = c.status(fit=False).best
    # Narrow source_power so that the best run (and perhaps others) falls outside.
    high = float(best["source_power"]) - 10.0
    low = 300.0 if high > 300.0 else high - 10.0
    edit(etch42, "bounds: [300, 2500], step: 10}", f"bounds: [{low:g}, {high:g}], step: 10}}")
    c = Campaign.load(etch42)
    outside = runs.loc[~runs["source_power"].between(low, high), "run_id"].tolist()
    assert best["run_id"] in outside
    status = c.status(fit=False)
    assert status.excluded["run_id"].tolist() == outside
    assert status.excluded["excluded"].str.startswith("outside the campaign: source_power").all()
    assert status.best is None or status.best["run_id"] not in outside
    assert len(c.training_data(c.runs())[0]) == 8 - len(outside)
    exported = pd.read_csv(io.StringIO(c.export()))
    assert exported["run_id"].tolist() == runs["run_id"].tolist()
    assert exported.loc[exported.run_id.isin(outside), "excluded"].str.contains("outside").all()


def test_a_removed_parameter_keeps_its_stored_values_in_export(etch42):
    c = recorded(etch42, batches=1)
    before = c.runs()["chuck_temp"].tolist()
    text = etch42.read_text()
    etch42.write_text(
        "\n".join(line for line in text.splitlines() if "name: chuck_temp" not in line) + "\n"
    )
    c = Campaign.load(etch42)
    assert "chuck_temp" not in c.space.names
    exported = pd.read_csv(io.StringIO(c.export()))
    assert exported["chuck_temp"].tolist() == before
    assert list(exported.columns).index("chuck_temp") > list(exported.columns).index("etch_time")
    assert len(c.suggest()) == 4  # the campaign goes on without it


def test_runs_with_a_removed_choice_are_excluded(tmp_path):
    dep7 = scratch_copy(ROOT / "campaigns" / "dep7.yaml", tmp_path)
    c = Campaign.load(dep7)
    batch = c.suggest(batch=8)
    results = batch[["run_id"]].assign(**{"yield": 80.0, "uniformity": 95.0, "defects": 0.1})
    c.record(results)
    used = batch["chemistry"].tolist()
    edit(dep7, "choices: [SiH4/N2O, TEOS/O2, SiH4/NH3]", "choices: [SiH4/N2O, TEOS/O2]")
    c = Campaign.load(dep7)
    status = c.status(fit=False)
    gone = [r for r, chem in zip(batch["run_id"], used, strict=True) if chem == "SiH4/NH3"]
    assert gone and status.excluded["run_id"].tolist() == gone
    assert (
        status.excluded["excluded"]
        == "outside the campaign: chemistry is not one of SiH4/N2O, TEOS/O2"
    ).all()
    assert len(c.training_data(c.runs())[0]) == 8 - len(gone)
