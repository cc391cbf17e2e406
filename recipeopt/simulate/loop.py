"""Run a campaign against a simulated recipe: suggest, measure, record, repeat.

This is the one closed loop of the project: ``recipeopt demo`` and every
benchmark run use it, and it drives the real :class:`~recipeopt.campaign.Campaign`
API, so what is measured is what a user gets.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from recipeopt.campaign import Campaign
from recipeopt.simulate.family import Family, Task


@dataclass
class LoopResult:
    """What a closed-loop run evaluated.

    Attributes:
        objective: Noiseless objective of every evaluated recipe, in order.
        seconds: Wall time of each ``suggest`` call.
        methods: Method that proposed each batch.
        provenance: How each batch was proposed (its first run's
            :class:`~recipeopt.strategy.Provenance` record): step, model,
            checkpoint, adaptation, guard decision, acquisition.
        steps: The step that proposed each evaluated recipe, in order (a batch's
            hedge and untried-choice runs have their own).
    """

    objective: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    provenance: list[dict] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)

    def best_so_far(self) -> np.ndarray:
        """Return the running maximum of the noiseless objective."""
        return np.maximum.accumulate(np.asarray(self.objective))


def run_loop(
    campaign: Campaign,
    family: Family,
    task: Task,
    *,
    budget: int,
    batch: int,
    seed: int,
    noise_seed: int,
    method: str = "auto",
    on_batch: Callable[[LoopResult], None] | None = None,
) -> LoopResult:
    """Run ``campaign`` on ``task`` until ``budget`` recipes have been measured.

    Side effects:
        Writes suggestions and results to the campaign's store.

    Args:
        campaign: A campaign over the family's parameters (usually a scratch store).
        family: Scores the recipes (noiseless objective).
        task: The simulated recipe that 'runs the wafers'.
        budget: Number of recipes to measure.
        batch: Batch size.
        seed: Seed passed to every ``suggest``.
        noise_seed: Seeds the measurement noise.
        method: Method passed to every ``suggest``.
        on_batch: Called after each batch is recorded (progress).
    """
    rng = np.random.default_rng(noise_seed)
    result = LoopResult()
    names = campaign.space.names
    while len(result.objective) < budget:
        q = min(batch, budget - len(result.objective))
        start = time.perf_counter()
        table = campaign.suggest(q, seed=seed, method=method)
        result.seconds.append(time.perf_counter() - start)
        measured = task.measure(table[names], rng)
        measured.insert(0, "run_id", table["run_id"].to_numpy())
        campaign.record(measured)
        result.objective.extend(float(v) for v in family.score(task, table[names]))
        stored = campaign.runs().set_index("run_id").loc[table["run_id"], "provenance"]
        result.steps.extend(json.loads(p).get("step", "") if p else "" for p in stored)
        last = campaign.status(fit=False)  # names the batch by its first run, not a hedge run
        result.methods.append(str(last.last_method))
        result.provenance.append(last.last_provenance or {})
        if on_batch is not None:
            on_batch(result)
    return result
