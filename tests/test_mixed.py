"""Mixed spaces: categorical choices, fixed values, equalities, same-in-batch, outcomes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from recipeopt.campaign import Campaign
from recipeopt.cli import cli
from recipeopt.constraints import parse_constraint
from recipeopt.exceptions import InfeasibleConstraintsError, SpecError
from recipeopt.simulate.family import TUNING_OFFSET, get_family
from recipeopt.space import Space
from recipeopt.spec import CategoricalParameter, NumericParameter, spec_from_dict
from recipeopt.strategy.config import StrategyConfig
from tests.conftest import ROOT, scratch_copy

DEP7 = ROOT / "campaigns" / "dep7.yaml"


def spec_error(data: dict) -> str:
    with pytest.raises(SpecError) as info:
        spec_from_dict(data, source="c.yaml")
    assert "\n" not in str(info.value)
    return str(info.value)


def minimal(**extra) -> dict:
    return {
        "name": "m",
        "parameters": [
            {"name": "gas", "type": "categorical", "choices": ["CF4/O2", "SF6/O2", "C4F8/Ar"]},
            {"name": "a", "bounds": [0, 1], "step": 0.01},
            {"name": "b", "bounds": [0, 1], "step": 0.01},
        ],
        **extra,
    }


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda d: d["parameters"][0].update(choices=["A", "A"]),
            "parameters.gas.choices: 'A' is listed twice",
        ),
        (lambda d: d["parameters"][0].update(choices=[]), "parameters.gas.choices"),
        (lambda d: d["parameters"][0].update(choices=["A", " "]), "a choice is empty"),
        (
            lambda d: d["parameters"][0].update(fixed="NF3"),
            "parameters.gas.fixed: 'NF3' is not one of the choices",
        ),
        (
            lambda d: d["parameters"][1].update(fixed=0.005),
            "parameters.a.fixed: 0.005 is not on the step grid",
        ),
        (lambda d: d.update(constraints=["a + b == 3"]), "no recipe within the bounds"),
        (lambda d: d.update(constraints=["gas + a <= 1"]), "uses categorical parameter 'gas'"),
        (
            lambda d: d.update(objective={"metrics": ["yield"], "constraints": ["defects <= 1"]}),
            "unknown metric 'defects'",
        ),
        (
            lambda d: d.update(objective={"metrics": ["yield"], "constraints": ["yield == 90"]}),
            "outcome constraints use <= or >=",
        ),
    ],
)
def test_bad_mixed_specs_are_one_line(mutate, fragment):
    data = minimal()
    mutate(data)
    assert fragment in spec_error(data)


def test_type_is_inferred_from_choices():
    spec = spec_from_dict({"name": "m", "parameters": [{"name": "g", "choices": ["x", "y"]}]})
    assert isinstance(spec.parameters[0], CategoricalParameter)


def test_categorical_round_trips_through_the_cube():
    space = Space.from_spec(spec_from_dict(minimal()))
    frame = pd.DataFrame(
        {"gas": ["SF6/O2", "C4F8/Ar", "CF4/O2"], "a": [0.1, 0.5, 0.99], "b": [0.0, 1.0, 0.37]}
    )
    values = space.values(frame)
    np.testing.assert_array_equal(values[:, 0], [1, 2, 0])
    cube = space.to_cube(values)
    np.testing.assert_allclose(cube[:, 0], [0.5, 1.0, 0.0])
    pd.testing.assert_frame_equal(space.frame(space.from_cube(cube)), frame)
    assert space.records(values)[0] == {"gas": "SF6/O2", "a": 0.1, "b": 0.0}
    # Uniform draws give every choice the same share, ends included.
    U = np.random.default_rng(0).random((30000, 3))
    shares = np.bincount(space.from_cube(space.uniform_to_cube(U))[:, 0].astype(int)) / len(U)
    np.testing.assert_allclose(shares, 1 / 3, atol=0.01)


def test_fix_a_categorical_per_call():
    space = Space.from_spec(spec_from_dict(minimal())).with_fixed({"gas": "C4F8/Ar", "a": "0.25"})
    out = space.frame(space.from_cube(np.random.default_rng(0).random((5, 3))))
    assert (out["gas"] == "C4F8/Ar").all() and (out["a"] == 0.25).all()
    with pytest.raises(SpecError, match="--fix gas=NF3: fixed: 'NF3' is not one of the choices"):
        Space.from_spec(spec_from_dict(minimal())).with_fixed({"gas": "NF3"})


def test_equality_survives_rounding_or_is_reported():
    names = ["f1", "f2", "f3"]
    fractions = Space(
        [NumericParameter(name=n, bounds=(0, 1), step=0.01) for n in names],
        [parse_constraint("f1 + f2 + f3 == 1", names)],
    )
    raw = np.random.default_rng(1).dirichlet([1, 1, 1], size=200)
    snapped = fractions.snap_feasible(raw)
    assert fractions.feasible(snapped).mean() > 0.97
    np.testing.assert_allclose(snapped[fractions.feasible(snapped)].sum(axis=1), 1.0)
    data = {
        "name": "coarse",
        "parameters": [{"name": n, "bounds": [0, 0.9], "step": 0.3} for n in names],
        "constraints": ["f1 + f2 + f3 == 1"],
    }
    coarse = Campaign(spec_from_dict(data), None, storage="sqlite://")  # feasible in the box: loads
    with pytest.raises(InfeasibleConstraintsError) as info:
        coarse.suggest()
    assert "'f1 + f2 + f3 == 1' cannot hold on the parameters' step grids" in str(info.value)


# -- the property: every suggested row honours the space ------------------


@st.composite
def mixed_specs(draw):
    params = [
        {"name": "x0", "bounds": [0.0, 10.0], "step": draw(st.sampled_from([0.1, 0.5, 1.0]))},
        {"name": "x1", "type": "integer", "bounds": [0, draw(st.integers(3, 40))]},
        {"name": "x2", "bounds": [1.0, 100.0], "scale": "log", "step": 1.0},
        {"name": "f1", "bounds": [0.0, 1.0], "step": 0.05},
        {"name": "f2", "bounds": [0.0, 1.0], "step": 0.05},
    ]
    if draw(st.booleans()):
        params.append(
            {
                "name": "gas",
                "choices": draw(st.sampled_from([["A", "B"], ["A", "B", "C", "D", "E"]])),
            }
        )
    fixed = draw(st.sampled_from([None, "x0", "x1"]))
    if fixed == "x0":
        params[0]["fixed"] = 5.0
    elif fixed == "x1":
        params[1]["fixed"] = 2
    constraints = [f"x0 + x1 <= {draw(st.integers(5, 30))}"]
    if draw(st.booleans()):
        constraints.append("f1 + f2 == 1")
    return {
        "name": "prop",
        "parameters": params,
        "constraints": constraints,
        "model": {"members": 2},
        "initial_design": 4,
    }


def check_rows(c: Campaign, batch: pd.DataFrame, same: list[str]) -> None:
    space = c.space
    values = space.values(batch)
    assert not np.isnan(values).any()
    assert space.in_bounds(values).all()
    np.testing.assert_array_equal(space.snap(values), values)  # steps, integers, choices, fixed
    assert space.feasible(values).all()  # inequalities and equalities
    for name in same:
        assert batch[name].nunique() == 1


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[
        Phase.explicit,
        Phase.reuse,
        Phase.generate,
    ],  # each example fits a model: no slow shrinking
)
@given(mixed_specs(), st.sampled_from(["x0", "x1", "f1"]), st.integers(0, 3))
def test_every_suggested_row_honours_the_space(data, same, seed):
    small = StrategyConfig(hidden=8, epochs=30)
    c = Campaign(spec_from_dict(data), None, storage="sqlite://", strategy=small)
    design = c.suggest(4, seed=seed, same_in_batch=[same])
    check_rows(c, design, [same])
    results = pd.DataFrame(
        {
            "run_id": design["run_id"],
            "yield": np.linspace(10, 60, 4),
            "uniformity": 95.0,
            "defects": 0.2,
        }
    )
    c.record(results)
    batch = c.suggest(3, seed=seed, method="ensemble", same_in_batch=[same])
    check_rows(c, batch, [same])
    c.close()


# -- outcome constraints ----------------------------------------------------


def test_outcome_constraints_pick_the_best_feasible_run(tmp_path):
    data = minimal(
        objective={
            "metrics": ["yield", "uniformity", "defects"],
            "constraints": ["defects <= 0.5"],
        },
        initial_design=3,
    )
    c = Campaign(spec_from_dict(data), None, storage="sqlite://")
    design = c.suggest(3)
    c.record(
        pd.DataFrame(
            {
                "run_id": design.run_id,
                "yield": [90.0, 60.0, 40.0],
                "uniformity": 95.0,
                "defects": [0.9, 0.3, 0.1],
            }
        )
    )
    best = c.status(fit=False).best
    assert best["run_id"] == design.run_id[1]  # R001 yields more but breaks the particle spec
    batch = c.suggest(2, method="ensemble")
    assert batch["pred_feasibility"].between(0, 1).all()
    assert "pred_feasibility" in c.export().splitlines()[0]


# -- dep7 end to end -------------------------------------------------------------------


@pytest.fixture
def dep7(tmp_path: Path) -> Path:
    """A scratch copy of campaigns/dep7.yaml."""
    return scratch_copy(DEP7, tmp_path)


def dep7_cli_rounds(dep7: Path, tmp_path: Path, rounds: int) -> pd.DataFrame:
    """Suggest (one chamber per batch), measure on a dep recipe and record, ``rounds`` times.

    The last round also pins the chemistry. Every batch is checked against the
    space; returns the last batch.
    """
    runner = CliRunner()
    family = get_family("dep")
    task = family.recipe(TUNING_OFFSET)
    rng = np.random.default_rng(0)
    for round_ in range(rounds):
        out = tmp_path / f"b{round_}.csv"
        args = ["suggest", str(dep7), "--out", str(out), "--same-in-batch", "chamber"]
        if round_ == rounds - 1:
            args += ["--fix", "chemistry=TEOS/O2"]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        batch = pd.read_csv(out)
        assert batch["chamber"].nunique() == 1 and (batch["deposition_time"] == 90).all()
        fractions = batch[["precursor_frac", "oxidant_frac", "diluent_frac"]].sum(axis=1)
        np.testing.assert_allclose(fractions, 1.0)
        names = family.space.names
        measured = task.measure(batch[names], rng)
        measured.insert(0, "run_id", batch["run_id"])
        measured.to_csv(tmp_path / "r.csv", index=False)
        result = runner.invoke(cli, ["record", str(dep7), str(tmp_path / "r.csv")])
        assert result.exit_code == 0, result.output
    assert (batch["chemistry"] == "TEOS/O2").all()
    assert batch["pred_feasibility"].between(0, 1).all()
    return batch


def test_dep7_cli_suggest_record_suggest(dep7, tmp_path):
    dep7_cli_rounds(dep7, tmp_path, 3)
    status = CliRunner().invoke(cli, ["status", str(dep7), "--no-fit"])
    assert status.exit_code == 0 and "12 complete" in status.output


def test_dep7_bad_choice_in_results_is_one_line(dep7, tmp_path):
    runner = CliRunner()
    off = tmp_path / "off.csv"
    row = {
        "chemistry": "NF3",
        "chamber": "A",
        "rf_power": 300,
        "pressure": 2.0,
        "temperature": 300,
        "spacing": 10,
        "precursor_frac": 0.1,
        "oxidant_frac": 0.6,
        "diluent_frac": 0.3,
        "total_flow": 1000,
        "deposition_time": 90,
        "yield": 50,
        "uniformity": 95,
        "defects": 0.1,
    }
    pd.DataFrame([row]).to_csv(off, index=False)
    result = runner.invoke(cli, ["record", str(dep7), str(off)])
    assert result.exit_code == 1
    assert (
        "off.csv, line 2, column chemistry: 'NF3' is not one of SiH4/N2O, TEOS/O2, SiH4/NH3"
        in result.output
    )


def _by_gas(X):
    """Two metrics in normalized units: high only for the second gas (code 0.5 on the cube)."""
    import torch

    good = (X[..., :1] - 0.5).abs() < 0.25
    value = torch.where(good, 0.9, 0.2).to(X)
    return torch.cat([value, value], dim=-1)


def _metric(name: str) -> dict:
    return {"name": name, "unit": "", "direction": "maximize", "weight": 0.5, "range": [0, 1]}


def test_an_untried_choice_is_tried_unless_the_model_is_confident_it_is_worse():
    import torch
    from botorch.models.deterministic import GenericDeterministicModel

    from recipeopt.objective import Objective
    from recipeopt.strategy.steps import untried_choice

    spec = spec_from_dict(minimal(objective={"metrics": [_metric("y"), _metric("z")]}))
    space, objective = Space.from_spec(spec), Objective.from_spec(spec)
    model = GenericDeterministicModel(_by_gas, num_outputs=2)
    tried = space.values(pd.DataFrame({"gas": ["CF4/O2"] * 3, "a": [0.1, 0.5, 0.9], "b": 0.5}))
    used = space.to_cube(tried)
    kwargs = {"candidates": 64, "seed": 0, "used": used}
    row, choice = untried_choice(model, objective, space, tried, 0.5, **kwargs)
    # SF6/O2 can beat the best run (0.9 > 0.5); C4F8/Ar cannot (0.2, with no spread).
    assert choice == "gas = SF6/O2" and space.records(row[None])[0]["gas"] == "SF6/O2"
    assert untried_choice(model, objective, space, tried, 0.95, **kwargs) is None
    # Once every choice has a run, nothing is left to try.
    every = space.values(pd.DataFrame({"gas": ["CF4/O2", "SF6/O2", "C4F8/Ar"], "a": 0.5, "b": 0.5}))
    assert untried_choice(model, objective, space, every, -np.inf, **kwargs) is None
    assert torch.is_tensor(model.posterior(torch.as_tensor(used)).mean)


def test_a_campaign_stuck_on_one_choice_tries_the_others(tmp_path):
    spec = tmp_path / "m.yaml"
    spec.write_text(
        "name: m\nparameters:\n"
        "  - {name: gas, type: categorical, choices: [CF4/O2, SF6/O2, C4F8/Ar]}\n"
        "  - {name: a, bounds: [0, 1], step: 0.01}\n"
        "  - {name: b, bounds: [0, 1], step: 0.01}\n"
        "objective:\n  metrics:\n"
        "    - {name: y, unit: '', direction: maximize, weight: 1, range: [0, 1]}\n"
        "batch_size: 4\ninitial_design: 4\nmodel: {method: ensemble}\n"
    )
    campaign = Campaign.load(spec)
    rng = np.random.default_rng(0)
    runs = pd.DataFrame({"gas": "CF4/O2", "a": rng.random(8).round(2), "b": rng.random(8).round(2)})
    runs["y"] = 0.5 + 0.1 * runs["a"]
    campaign.record(runs)
    batch = campaign.suggest(seed=0)
    stored = campaign.runs().set_index("run_id").loc[batch["run_id"]]
    steps = [json.loads(p)["step"] for p in stored["provenance"]]
    # One run of the batch tries another gas; the table says so in plain words.
    assert steps.count("choice") == 1
    explored = stored[[s == "choice" for s in steps]].iloc[0]
    assert explored["gas"] in ("SF6/O2", "C4F8/Ar")
    assert explored["model"].startswith(f"tries gas = {explored['gas']} for the first time")
    campaign.close()
