"""Physically impossible metrics and recipes that break the plan are rejected, or flagged."""

from __future__ import annotations

import pandas as pd
import pytest

from recipeopt.campaign import Campaign
from recipeopt.exceptions import ResultsFileError, SpecError
from recipeopt.spec import implied_limits, spec_from_dict
from tests.conftest import fake_results

#: A feasible etch42 recipe on every step grid.
RECIPE = {
    "source_power": 1400.0,
    "bias_power": 500.0,
    "pressure": 20.0,
    "cf4_flow": 50.0,
    "chf3_flow": 20.0,
    "c4f8_flow": 10.0,
    "o2_flow": 10.0,
    "ar_flow": 100.0,
    "chuck_temp": 20.0,
    "wall_temp": 60.0,
    "he_pressure": 10.0,
    "gap": 30.0,
    "pulse_duty": 50.0,
    "center_edge_split": 0.5,
    "etch_time": 100.0,
}
GOOD = {"yield": 70.0, "uniformity": 95.0, "defects": 0.2}


@pytest.fixture
def campaign(etch42) -> Campaign:
    return Campaign.load(etch42)


def off_plan(**changes: float) -> pd.DataFrame:
    return pd.DataFrame([{**RECIPE, **GOOD, **changes}])


@pytest.mark.parametrize(
    ("metric", "value", "limits"),
    [
        ("yield", -5.0, "[0, 100]"),
        ("yield", 150.0, "[0, 100]"),
        ("uniformity", 101.0, "[0, 100]"),
        ("defects", -0.3, "[0, inf]"),
    ],
)
def test_a_metric_outside_its_physical_limits_is_rejected(campaign, metric, value, limits):
    before = campaign.export()
    with pytest.raises(ResultsFileError) as info:
        campaign.record(off_plan(**{metric: value}))
    message = str(info.value)
    assert f"line 2, column {metric}: {value:g} is outside the physical limits {limits}" in message
    assert campaign.export() == before


def test_spec_limits_override_the_unit(etch42):
    text = etch42.read_text().replace("range: [0, 100]}", "range: [0, 100], limits: [10, 90]}", 1)
    etch42.write_text(text)
    c = Campaign.load(etch42)
    with pytest.raises(ResultsFileError, match=r"95 is outside the physical limits \[10, 90\]"):
        c.record(off_plan(**{"yield": 95.0}))
    c.record(off_plan(**{"yield": 85.0}))
    assert c.runs()["yield"].tolist() == [85.0]


def test_limits_come_from_the_unit():
    assert implied_limits("%") == (0.0, 100.0)
    assert implied_limits("1/cm2") == (0.0, None)
    assert implied_limits("particles/wafer") == (0.0, None)
    assert implied_limits("count") == (0.0, None)
    assert implied_limits("nm/min") == (None, None)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"gap": 25.5}, "gap 25.5 is not a whole number (integer parameter)"),
        ({"pressure": 20.25}, "pressure 20.25 is not on its step grid 3 + k*0.5"),
        ({"pulse_duty": 52}, "pulse_duty 52 is not on its step grid 20 + k*5"),
        (
            {"cf4_flow": 150, "chf3_flow": 150, "o2_flow": 10},
            "breaks the constraint 'cf4_flow + chf3_flow + c4f8_flow + o2_flow <= 300' "
            "(left side 320)",
        ),
    ],
)
def test_an_off_plan_row_that_breaks_the_plan_is_rejected_or_flagged(campaign, changes, fragment):
    before = campaign.export()
    with pytest.raises(ResultsFileError) as info:
        campaign.record(off_plan(**changes))
    assert fragment in str(info.value) and "--allow-off-spec" in str(info.value)
    assert campaign.export() == before
    summary, _ = campaign.record(off_plan(**changes), allow_off_spec=True)
    runs = campaign.runs().set_index("run_id")
    assert runs.loc[summary.added[0], "excluded"] == f"off-spec: {fragment}"
    assert len(campaign.training_data(campaign.runs())[0]) == 0  # kept out of the model
    assert campaign.status(fit=False).best is None
    assert campaign.status(fit=False).excluded["run_id"].tolist() == summary.added


def test_a_pinned_value_is_part_of_the_plan(etch42):
    etch42.write_text(
        etch42.read_text().replace(
            "step: 0.5}\n  - {name: gap", "step: 0.5, fixed: 10}\n  - {name: gap"
        )
    )
    c = Campaign.load(etch42)
    assert c.space.fixed == {"he_pressure": 10.0}
    with pytest.raises(ResultsFileError, match=r"he_pressure is pinned to 10 \(fixed"):
        c.record(off_plan(he_pressure=12.0))
    c.record(off_plan(he_pressure=10.0))


def test_as_run_setpoints_of_a_planned_run_are_checked_only_when_they_differ(campaign):
    batch = campaign.suggest()
    filled = fake_results(batch).merge(batch.drop(columns=["batch_id"]), on="run_id")
    filled = filled.drop(columns=[c for c in filled if c.startswith("pred_")])
    filled.loc[0, "gap"] = filled.loc[0, "gap"] + 0.5
    with pytest.raises(ResultsFileError, match=rf"run {batch.run_id[0]}\): gap .* whole number"):
        campaign.record(filled)
    filled.loc[0, "gap"] = batch.loc[0, "gap"]  # as planned: accepted
    summary, _ = campaign.record(filled)
    assert summary.updated == batch["run_id"].tolist()
    assert (campaign.runs()["excluded"] == "").all()


def test_replacing_an_off_spec_run_with_a_valid_recipe_clears_its_flag(campaign):
    summary, _ = campaign.record(off_plan(gap=25.5), allow_off_spec=True)
    (run_id,) = summary.added
    fixed = off_plan(gap=25.0).assign(run_id=run_id)
    campaign.record(fixed, replace=True)
    runs = campaign.runs().set_index("run_id")
    assert runs.loc[run_id, "gap"] == 25.0 and runs.loc[run_id, "excluded"] == ""


def test_a_file_whose_rows_are_all_still_empty_says_so(campaign):
    batch = campaign.suggest()
    empty = batch[["run_id"]].assign(**{"yield": "", "uniformity": "", "defects": ""})
    with pytest.raises(ResultsFileError, match="every row is still empty"):
        campaign.record(empty)


def test_a_categorical_parameter_needs_two_choices():
    data = {
        "name": "x",
        "parameters": [
            {"name": "p", "bounds": [0, 1]},
            {"name": "chamber", "choices": ["A"]},
        ],
    }
    with pytest.raises(SpecError, match=r"parameters.chamber.choices: .* at least two choices"):
        spec_from_dict(data)


def test_limits_must_be_ordered():
    data = {
        "name": "x",
        "parameters": [{"name": "p", "bounds": [0, 1]}],
        "objective": {"metrics": [{"name": "yield", "limits": [100, 0]}]},
    }
    with pytest.raises(SpecError, match=r"metrics.yield.limits: lower \(100\) must be below"):
        spec_from_dict(data)
