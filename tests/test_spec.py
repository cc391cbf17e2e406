"""Spec validation: every invalid campaign gets one line naming the file, field and fix."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recipeopt.exceptions import SpecError
from recipeopt.spec import MOVED_MODEL_SETTINGS, CampaignSpec, load_spec, spec_from_dict
from recipeopt.strategy.config import StrategyConfig
from tests.conftest import ETCH42


def base() -> dict:
    data = yaml.safe_load(ETCH42.read_text())
    data["history"] = []  # written to a scratch folder, where etch42's history is not
    return data


def test_example_campaign_is_valid():
    spec = load_spec(ETCH42)
    assert len(spec.parameters) == 15
    assert spec.batch_size == 4 and spec.initial_design == 8
    assert spec.metric_names == ["yield", "uniformity", "defects"]
    assert [m.weight for m in spec.objective.metrics] == [0.6, 0.3, 0.1]
    assert len(spec.linear_constraints()) >= 1


def _error(data: dict, tmp_path: Path) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    return message


def _param(data: dict, name: str) -> dict:
    return next(p for p in data["parameters"] if p["name"] == name)


def test_reversed_bounds(tmp_path):
    data = base()
    _param(data, "pressure")["bounds"] = [80, 2]
    assert "parameters.pressure.bounds: lower (80) must be below upper (2); swap them" in _error(
        data, tmp_path
    )


def test_step_must_divide_range(tmp_path):
    data = base()
    _param(data, "source_power")["step"] = 7
    msg = _error(data, tmp_path)
    assert "parameters.source_power" in msg and "does not divide the range" in msg


def test_float_step_that_divides_is_accepted():
    data = base()
    _param(data, "center_edge_split").update(bounds=[0.3, 0.7], step=0.1)
    spec_from_dict(data)  # 0.4 / 0.1 is not an exact float, but it divides


def test_unknown_name_in_constraint(tmp_path):
    data = base()
    data["constraints"] = ["cf4_flow + cf5_flow <= 10"]
    msg = _error(data, tmp_path)
    assert "constraints[0]" in msg and "unknown parameter 'cf5_flow'" in msg


def test_negative_weight(tmp_path):
    data = base()
    data["objective"]["metrics"][1]["weight"] = -0.3
    msg = _error(data, tmp_path)
    assert "objective.metrics.uniformity.weight" in msg and "zero or positive" in msg


def test_duplicate_parameter(tmp_path):
    data = base()
    data["parameters"].append(copy.deepcopy(data["parameters"][0]))
    assert "duplicate parameter name 'source_power'" in _error(data, tmp_path)


def test_yaml_syntax_error_names_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nparameters:\n  - {name: a, bounds: [0, 1]\n")
    with pytest.raises(SpecError, match=r"broken.yaml: YAML syntax error at line \d+"):
        load_spec(path)


def test_unknown_field_is_reported(tmp_path):
    data = base()
    _param(data, "gap")["stepp"] = 2
    assert "parameters.gap.stepp: unknown field" in _error(data, tmp_path)


def test_missing_field_is_reported(tmp_path):
    data = base()
    del _param(data, "gap")["bounds"]
    assert "parameters.gap.bounds: required field is missing" in _error(data, tmp_path)


def test_fixed_outside_bounds(tmp_path):
    data = base()
    _param(data, "pressure")["fixed"] = 200
    assert "fixed: 200 is outside bounds" in _error(data, tmp_path)


def test_fixed_off_step(tmp_path):
    data = base()
    _param(data, "pressure")["fixed"] = 20.25
    assert "not on the step grid" in _error(data, tmp_path)


def test_integer_needs_whole_bounds(tmp_path):
    data = base()
    _param(data, "gap")["bounds"] = [20.5, 50]
    assert "whole bounds" in _error(data, tmp_path)


def test_log_scale_needs_positive_lower(tmp_path):
    data = base()
    _param(data, "bias_power").update(scale="log", bounds=[0, 1500])
    assert "log needs a positive lower bound" in _error(data, tmp_path)


def test_range_contradicting_direction(tmp_path):
    data = base()
    data["objective"]["metrics"][2]["range"] = [0.0, 1.0]
    assert "contradicts direction minimize; swap" in _error(data, tmp_path)


def test_infeasible_constraints(tmp_path):
    data = base()
    data["constraints"] = ["cf4_flow + o2_flow >= 400"]
    assert "no recipe within the bounds" in _error(data, tmp_path)


@pytest.mark.parametrize("moved", sorted(MOVED_MODEL_SETTINGS))
def test_a_research_setting_in_the_campaign_names_its_replacement(tmp_path, moved):
    data = base()
    data["model"] = {moved: 1}
    message = _error(data, tmp_path)
    assert f"model.{moved}: no longer a campaign setting" in message
    assert f"recipeopt benchmark --set {moved}=VALUE" in message
    assert moved in {f.name for f in dataclasses.fields(StrategyConfig)}


def test_the_engineer_keeps_method_members_guard_and_checkpoint(tmp_path):
    data = base()
    data["model"] = {"method": "gp", "members": 4, "guard": False, "checkpoint": "x.pt"}
    spec_path = tmp_path / "ok.yaml"
    spec_path.write_text(yaml.safe_dump(data))
    model = load_spec(spec_path).model
    assert (model.method, model.members, model.guard, model.checkpoint) == ("gp", 4, False, "x.pt")


def test_history_glob_must_match(tmp_path):
    data = base()
    data["history"] = ["history/*.csv"]
    assert "history" in _error(data, tmp_path) and "matches no file" in _error(data, tmp_path)


def test_missing_file():
    with pytest.raises(SpecError, match="no such campaign file"):
        load_spec("/nonexistent/campaign.yaml")


def test_known_metric_defaults():
    data = base()
    data["objective"] = {"metrics": ["yield", {"name": "defects", "weight": 0.5}]}
    spec = spec_from_dict(data)
    assert [m.direction for m in spec.objective.metrics] == ["maximize", "minimize"]
    assert spec.objective.metrics[1].weight == 0.5


# -- Hypothesis: generated specs survive a YAML round trip unchanged --------

names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@st.composite
def parameters(draw, name):
    kind = draw(st.sampled_from(["continuous", "integer"]))
    low = draw(st.integers(-1000, 1000))
    if kind == "integer":
        span = draw(st.integers(1, 500))
        step = draw(st.sampled_from([None, 1]))
        return {
            "name": name,
            "type": kind,
            "bounds": [low, low + span],
            **({"step": step} if step else {}),
        }
    step = draw(st.sampled_from([None, 0.1, 0.5, 2.0]))
    count = draw(st.integers(1, 200))
    span = count * step if step else draw(st.floats(0.01, 1e4))
    p = {
        "name": name,
        "type": kind,
        "bounds": [float(low), float(low) + span],
        "unit": draw(st.sampled_from(["W", "sccm", ""])),
    }
    if step:
        p["step"] = step
    return p


@st.composite
def specs(draw):
    param_names = draw(st.lists(names, min_size=1, max_size=6, unique=True))
    params = [draw(parameters(n)) for n in param_names]
    weights = draw(st.lists(st.floats(0.01, 5), min_size=3, max_size=3))
    data = {
        "name": draw(st.from_regex(r"[a-z0-9_]{1,12}", fullmatch=True)),
        "parameters": params,
        "objective": {
            "metrics": [
                {"name": n, "weight": w}
                for n, w in zip(["yield", "uniformity", "defects"], weights, strict=True)
            ]
        },
        "batch_size": draw(st.integers(1, 16)),
        "initial_design": draw(st.integers(1, 30)),
        "seed": draw(st.integers(0, 2**31)),
    }
    if len(params) >= 2:
        a, b = params[0], params[1]
        data["constraints"] = [f"{a['name']} + {b['name']} <= {a['bounds'][1] + b['bounds'][1]}"]
    return data


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_yaml_round_trip(data):
    spec = spec_from_dict(data)
    dumped = yaml.safe_dump(spec.model_dump(mode="json"))
    again = spec_from_dict(yaml.safe_load(dumped))
    assert again == spec
    assert isinstance(again, CampaignSpec)
