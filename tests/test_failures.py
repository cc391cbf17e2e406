"""Failed runs inform the next batch: a failure cluster is avoided unless the gain is large."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import torch

from recipeopt.campaign import Campaign
from recipeopt.strategy.failures import FLOOR, SuccessWeighted, success_model

SPEC = (
    "name: f\nparameters:\n"
    "  - {name: a, bounds: [0, 1], step: 0.01}\n"
    "  - {name: b, bounds: [0, 1], step: 0.01}\n"
    "objective:\n  metrics:\n"
    "    - {name: y, unit: '', direction: maximize, weight: 1, range: [0, 1]}\n"
    "batch_size: 4\ninitial_design: 4\nmodel: {method: gp}\n"
)


def _campaign(tmp_path, name: str, failures: bool) -> Campaign:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPEC.replace("name: f", f"name: {name}"))
    campaign = Campaign.load(path)
    rng = np.random.default_rng(0)
    # Complete runs at a >= 0.4: the objective rises toward a = 0, so the GP's
    # expected improvement lies at small a.
    done = pd.DataFrame({"a": rng.uniform(0.4, 1.0, 10).round(2), "b": rng.random(10).round(2)})
    done["y"] = 1.0 - done["a"]
    campaign.record(done)
    if failures:  # an arc-fault cluster at small a
        failed = pd.DataFrame({"a": rng.uniform(0.0, 0.3, 8).round(2), "b": rng.random(8).round(2)})
        failed["y"], failed["status"] = np.nan, "failed"
        campaign.record(failed)
    return campaign


def test_the_next_batch_keeps_away_from_a_failure_cluster(tmp_path):
    plain = _campaign(tmp_path, "plain", failures=False)
    aware = _campaign(tmp_path, "aware", failures=True)
    free = plain.suggest(seed=0)
    careful = aware.suggest(seed=0)
    # Without failures, the batch goes where the objective rises: into small a.
    assert (free["a"] < 0.3).sum() >= 2
    # After the cluster of failures there, it keeps away, and says how likely each run succeeds.
    assert (careful["a"] < 0.3).sum() <= 1
    assert careful["pred_success"].between(0, 1).all()
    assert careful["pred_success"].mean() > 0.5
    stored = aware.runs()
    assert stored.loc[stored["status"] == "pending", "pred_success"].notna().all()
    assert "pred_success" in aware.export().splitlines()[0]
    assert all(json.loads(p)["step"] == "qlognei" for p in stored["provenance"] if p)
    plain.close()
    aware.close()


def test_success_weighting_adds_the_log_probability_of_each_run():
    X = torch.rand(30, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    succeeded = (X[:, 0] > 0.3).double()
    model = success_model(X, succeeded, [])
    assert model is not None
    inside, outside = torch.tensor([[0.05, 0.5]]).double(), torch.tensor([[0.9, 0.5]]).double()
    assert model.probability(inside) < 0.3 < 0.7 < model.probability(outside)
    assert success_model(X, torch.ones(30).double(), []) is None  # nothing failed: no model

    class Flat:
        model = None
        X_pending = None

        def __call__(self, X: torch.Tensor) -> torch.Tensor:
            return torch.zeros(X.shape[:-2]).to(X)

    weighted = SuccessWeighted(Flat(), model)  # type: ignore[arg-type]
    batch = torch.cat([inside, outside]).unsqueeze(0)  # 1 x q=2 x d
    expected = torch.log(model.probability(batch).clamp_min(FLOOR)).sum(dim=-1)
    assert torch.allclose(weighted(batch), expected)
    assert weighted(outside.unsqueeze(0)) > weighted(inside.unsqueeze(0))


def test_with_the_failure_model_off_a_failure_only_stops_an_exact_repeat(tmp_path):
    from dataclasses import replace

    aware = _campaign(tmp_path, "aware", failures=True)
    blind = Campaign.load(aware.path, strategy=replace(aware.config, failure_model=False))
    batch = blind.suggest(seed=0)
    assert batch["pred_success"].isna().all()
    assert (batch["a"] < 0.3).sum() >= 2  # back into the failure cluster, where the gain is
    aware.close()
    blind.close()


def test_the_faulty_etch_family_fails_runs_in_its_regions():
    from recipeopt.design import sample_feasible
    from recipeopt.simulate.family import TUNING_OFFSET, get_family

    family, etch = get_family("etch-faults"), get_family("etch")
    space = family.space
    frame = space.frame(space.from_cube(sample_feasible(space, 400, seed=0), snap=False))
    task = family.recipe(TUNING_OFFSET)
    fails = task.fails(frame)
    assert 0.1 < fails.mean() < 0.6
    arcs = (frame["pressure"] < task.arc_pressure) & (frame["bias_power"] > task.arc_bias)
    assert (fails == (arcs | (frame["he_pressure"] > task.dechuck_he))).all()
    measured = task.measure(frame, np.random.default_rng(0))
    assert (measured["status"] == np.where(fails, "failed", "complete")).all()
    assert measured.loc[fails, ["yield", "uniformity", "defects"]].isna().all().all()
    assert measured.loc[~fails, ["yield", "uniformity", "defects"]].notna().all().all()
    # The same etch recipe underneath; a failed run never scores as the best.
    scores = family.score(task, frame)
    plain = etch.score(etch.recipe(TUNING_OFFSET), frame)
    assert np.isneginf(scores[fails]).all() and np.allclose(scores[~fails], plain[~fails])
