"""``recipeopt demo``: a whole simulated campaign on a held-out etch recipe.

The demo drives the real :class:`~recipeopt.campaign.Campaign` API against the
bundled simulator with a temporary store: suggest, 'run the wafers' on the
simulator, record, repeat. It reports the best-so-far objective per round
against the simulated optimum and saves a convergence plot.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from recipeopt.campaign import Campaign
from recipeopt.simulate.family import CAMPAIGNS, TEST_OFFSET, get_family
from recipeopt.simulate.loop import LoopResult, run_loop


@dataclass
class DemoResult:
    """A finished demo: per-round table, optimum, and where the outputs went."""

    rounds: pd.DataFrame
    f_star: float
    f_median: float
    plot: Path
    runs_csv: Path


def run_demo(
    *,
    rounds: int,
    batch: int,
    seed: int,
    out: Path,
    on_batch: Callable[[LoopResult], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the demo campaign and write ``convergence.png`` and ``runs.csv`` into ``out``.

    Side effects:
        Creates ``out``; the campaign's store lives in a temporary folder.
    """
    from recipeopt.benchmark.plots import plot_convergence

    family = get_family("etch")
    task = family.recipe(TEST_OFFSET + seed)
    if on_stage:
        on_stage("Estimating the simulated recipe's optimum")
    f_star, f_median = family.landscape(task)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # NOTE: the real YAML path anchors the history and the checkpoint, so the demo
        # meta-trains campaigns/etch42.maml.pt once and later demos (and suggest) reuse it.
        campaign = Campaign(
            family.spec, CAMPAIGNS / "etch42.yaml", storage=f"sqlite:///{Path(tmp) / 'demo.db'}"
        )
        try:
            if family.spec.method == "maml-ensemble":
                campaign.prior.checkpoint(
                    on_epoch=lambda epoch, epochs, loss, _: (
                        on_stage
                        and on_stage(f"Meta-training on the history: epoch {epoch}/{epochs}")
                    )
                )
                if on_stage:
                    on_stage("")
            result = run_loop(
                campaign,
                family,
                task,
                budget=rounds * batch,
                batch=batch,
                seed=seed,
                noise_seed=seed,
                on_batch=on_batch,
            )
            runs_csv = out / "runs.csv"
            runs_csv.write_text(campaign.export())
        finally:
            campaign.close()
    best = result.best_so_far()
    table = pd.DataFrame(
        {
            "round": range(1, len(result.seconds) + 1),
            "method": result.methods,
            "runs": [min((i + 1) * batch, len(best)) for i in range(len(result.seconds))],
        }
    )
    table["best_objective"] = [float(best[n - 1]) for n in table["runs"]]
    table["optimum"] = f_star
    table["regret"] = (f_star - table["best_objective"]) / (f_star - f_median)
    table["seconds"] = result.seconds
    plot = out / "convergence.png"
    plot_convergence(
        best,
        f_star,
        f_median,
        plot,
        batch=batch,
        title=f"recipeopt demo: etch recipe {TEST_OFFSET + seed}",
    )
    return DemoResult(table, f_star, f_median, plot, runs_csv)
