"""The stop signal: the chance that the next batch beats the best run by a practical margin."""

from __future__ import annotations

import numpy as np
import torch
from botorch.models import SingleTaskGP
from click.testing import CliRunner

from recipeopt.campaign import Campaign
from recipeopt.cli import cli
from recipeopt.objective import Objective
from recipeopt.space import Space
from recipeopt.spec import load_spec
from recipeopt.strategy.outlook import DIMINISHING, outlook
from tests.conftest import ETCH42, fake_results


def _gp(level: float, spread: float, d: int) -> SingleTaskGP:
    """A GP whose posterior is about ``level`` +- ``spread`` on every normalized metric."""
    X = torch.rand(6, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    Y = level + spread * torch.randn(6, 3, generator=torch.Generator().manual_seed(1)).double()
    return SingleTaskGP(X, Y).eval()


def test_outlook_says_gains_remain_when_the_model_expects_better_and_stops_when_not():
    spec = load_spec(ETCH42)
    space, objective = Space.from_spec(spec), Objective.from_spec(spec)
    # etch42's defects constraint is on the normalized scale too: keep it met (0.9 is good).
    model = _gp(0.9, 0.05, space.dim)
    kwargs = {"margin": 0.01, "q": 4, "candidates": 256, "seed": 0, "used": np.zeros((0, 15))}
    ahead = outlook(model, objective, space, 0.3, **kwargs)
    assert ahead is not None and ahead.chance > 0.9 and not ahead.diminishing
    assert ahead.expected_gain > 0.3 and ahead.sentence().startswith("likely gains remain")
    done = outlook(model, objective, space, 3.0, **kwargs)  # far above anything predicted
    assert done is not None and done.chance < DIMINISHING and done.diminishing
    assert done.sentence().startswith("diminishing returns: 0% chance")
    assert done.expected_gain < ahead.expected_gain


def test_status_prints_the_outlook(etch42):
    campaign = Campaign.load(etch42)
    batch = campaign.suggest(8, method="sobol", seed=0)
    campaign.record(fake_results(batch))
    campaign.close()
    result = CliRunner().invoke(cli, ["status", str(etch42)])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("Outlook: "))
    assert "chance that the next batch of 4 beats the best run by 0.01" in line
    assert ("likely gains remain" in line) != ("diminishing returns" in line)
