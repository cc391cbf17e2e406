"""Pareto mode: the spec, the front and its hypervolume, and batches that widen the front."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from botorch.models.deterministic import GenericDeterministicModel
from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning
from click.testing import CliRunner

from recipeopt.acquisition import greedy_batch, hypervolume_gain
from recipeopt.campaign import Campaign
from recipeopt.cli import cli
from recipeopt.exceptions import SpecError
from recipeopt.objective import Objective
from recipeopt.report import build_report
from recipeopt.spec import Metric, load_spec, spec_from_dict
from tests.conftest import ETCH42, fake_results


def etch42_data(**objective) -> dict:
    data = yaml.safe_load(ETCH42.read_text())
    data["objective"].update(objective)
    return data


def write(data: dict, folder: Path) -> Path:
    """Write a campaign YAML into ``folder`` with etch42's history beside it."""
    path = folder / "etch42.yaml"
    path.write_text(yaml.safe_dump(data))
    if not (folder / "history").exists():
        (folder / "history").symlink_to(ETCH42.parent / "history", target_is_directory=True)
    return path


#: A metric recipeopt knows no default weight for.
SELECTIVITY = {"name": "selectivity", "direction": "maximize", "range": [1, 20]}


def test_pareto_mode_needs_no_weights():
    data = etch42_data(mode="pareto")
    data["objective"]["metrics"] = [
        {"name": "etch_rate", "direction": "maximize", "range": [100, 600]},
        SELECTIVITY,
    ]
    data["history"] = []
    spec = spec_from_dict(data)
    assert spec.objective.mode == "pareto"
    objective = Objective.from_spec(spec)
    assert objective.pareto and np.allclose(objective.weights, 0.5)


def test_weighted_mode_names_the_metric_without_a_weight(tmp_path):
    data = etch42_data()
    data["objective"]["metrics"][1] = SELECTIVITY
    data["history"] = []
    path = write(data, tmp_path)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    assert "metrics[1] (selectivity): no weight; give it one, or set mode: pareto" in message


def test_pareto_mode_needs_two_metrics(tmp_path):
    data = etch42_data(mode="pareto")
    data["objective"]["metrics"] = data["objective"]["metrics"][:1]
    data["history"] = []
    with pytest.raises(SpecError, match="at least two metrics"):
        load_spec(write(data, tmp_path))


def two_metrics(mode: str = "pareto", constraints=None) -> Objective:
    metrics = [
        Metric(name="a", direction="maximize", weight=0.9, range=(0, 1)),
        Metric(name="b", direction="maximize", weight=0.1, range=(0, 1)),
    ]
    return Objective(metrics, constraints, mode)


def test_front_and_hypervolume_of_known_points():
    objective = two_metrics()
    values = np.array(
        [
            [0.5, 0.5],
            [0.8, 0.2],
            [0.4, 0.4],  # dominated by the first
            [np.nan, 0.9],  # not measured
            [0.5, 0.5],  # a tie stays on the front
        ]
    )
    assert objective.pareto_front(values).tolist() == [True, True, False, False, True]
    # 0.5 x 0.5, plus the strip 0.3 x 0.2 the second point adds.
    assert objective.hypervolume(values) == pytest.approx(0.25 + 0.06)
    assert objective.hypervolume(values[2:4]) == pytest.approx(0.16)
    assert objective.hypervolume(np.zeros((0, 2))) == 0.0


def test_runs_that_break_an_outcome_constraint_are_off_the_front():
    from recipeopt.spec import Objective as ObjectiveSpec

    spec = ObjectiveSpec(
        mode="pareto",
        metrics=[
            {"name": "a", "direction": "maximize", "range": [0, 1]},
            {"name": "b", "direction": "maximize", "range": [0, 1]},
        ],
        constraints=["b >= 0.3"],
    )
    objective = Objective(spec.metrics, spec.outcome_constraints(), spec.mode)
    values = np.array([[0.9, 0.2], [0.5, 0.5]])
    assert objective.pareto_front(values).tolist() == [False, True]
    assert objective.hypervolume(values) == pytest.approx(0.25)


def test_hypervolume_gain_is_the_growth_of_the_dominated_volume():
    generator = torch.Generator().manual_seed(0)
    front = torch.rand(6, 3, generator=generator, dtype=torch.float64)
    points = torch.rand(20, 3, generator=generator, dtype=torch.float64) * 1.2 - 0.1
    ref = torch.zeros(3, dtype=torch.float64)

    def volume(Y: torch.Tensor) -> float:
        Y = Y[(ref < Y).all(dim=-1)]
        return float(DominatedPartitioning(ref_point=ref, Y=Y).compute_hypervolume())

    gains = hypervolume_gain(points, front)
    expected = [volume(torch.cat([front, p[None]])) - volume(front) for p in points]
    assert gains.numpy() == pytest.approx(np.array(expected), abs=1e-12)
    assert (gains >= 0).all() and (gains > 0).any()


def test_a_pareto_batch_spreads_along_the_front():
    # Choice i (x = i / 10) predicts the metrics in row i.
    table = torch.tensor([[0.85, 0.15], [0.2, 0.8], [0.21, 0.79], [0.5, 0.5]], dtype=torch.float64)
    model = GenericDeterministicModel(lambda X: table[(X[..., 0] * 10).round().long()], 2)
    choices = torch.arange(4, dtype=torch.float64)[:, None] / 10
    weights = torch.tensor([0.9, 0.1], dtype=torch.float64)
    no_constraints = {
        "A": torch.zeros(0, 2, dtype=torch.float64),
        "b": torch.zeros(0, dtype=torch.float64),
    }
    # By the weighted score, the first choice leads; near-copies of each other follow.
    assert greedy_batch(model, weights, choices, 3, **no_constraints).tolist() == [0, 3, 2]
    # Beside a run at (0.9, 0.1), the middle of the trade-off adds most; then the other end,
    # and its near-copy adds less than what the first choice still adds.
    front = torch.tensor([[0.9, 0.1]], dtype=torch.float64)
    picked = greedy_batch(model, weights, choices, 3, **no_constraints, front=front)
    assert picked.tolist() == [3, 2, 0]


@pytest.fixture(scope="module")
def pareto_campaign(tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """etch42 in Pareto mode with plain GPs: the design, then one recorded trade-off batch."""
    data = etch42_data(mode="pareto")
    data["model"] = {"method": "gp"}
    c = Campaign.load(write(data, tmp_path_factory.mktemp("pareto")))
    for r in range(3):
        c.record(fake_results(c.suggest(), seed=r))
    c.suggest()
    return c


def test_pareto_batches_use_the_hypervolume_acquisition(pareto_campaign):
    runs = pareto_campaign.runs()
    steps = [json.loads(p)["step"] if p else None for p in runs["provenance"]]
    acquisitions = [json.loads(p)["acquisition"] if p else None for p in runs["provenance"]]
    assert steps[:8] == ["design"] * 8
    assert steps[8:] == ["qlognei"] * 8 and set(acquisitions[8:]) == {"qLogNEHVI"}
    assert "widens the trade-off front" in runs["model"].iloc[-1]
    assert runs["run_id"].nunique() == 16


def test_status_shows_the_front_and_the_hypervolume_per_batch(pareto_campaign):
    result = CliRunner().invoke(cli, ["status", str(pareto_campaign.path), "--format", "json"])
    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    runs = pareto_campaign.runs()
    complete = runs[runs["status"] == "complete"]
    front = {row["run_id"] for row in status["pareto_front"]}
    assert front and front <= set(complete["run_id"])
    values = complete[["yield", "uniformity", "defects"]].to_numpy(dtype=float)
    on_front = pareto_campaign.objective.pareto_front(values)
    assert front == set(complete["run_id"][on_front])
    volumes = [row["hypervolume"] for row in status["hypervolume"]]
    assert [row["runs"] for row in status["hypervolume"]] == [4, 8, 12]
    assert volumes == sorted(volumes) and volumes[-1] == pytest.approx(
        pareto_campaign.objective.hypervolume(values)
    )
    table = CliRunner().invoke(cli, ["status", str(pareto_campaign.path), "--no-fit"])
    assert table.exit_code == 0 and f"{len(front)} runs on the Pareto front" in table.output


def test_the_report_has_a_trade_off_section(pareto_campaign):
    html = build_report(pareto_campaign)
    section = html.split("<h2>Trade-off</h2>", 1)[1].split("<h2>", 1)[0]
    assert "data:image/png;base64," in section
    front = pareto_campaign.objective.pareto_front(
        pareto_campaign.usable(pareto_campaign.runs())[["yield", "uniformity", "defects"]].to_numpy(
            dtype=float
        )
    )
    assert f"{int(front.sum())} runs on the Pareto front" in section
