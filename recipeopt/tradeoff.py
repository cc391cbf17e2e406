"""The trade-off between metrics a campaign has found: its Pareto front and hypervolume.

In Pareto mode (``objective.mode: pareto``) the batches grow the hypervolume
of the front; ``status`` and the report show the front of the complete runs
and the hypervolume after each batch (see
:meth:`recipeopt.objective.Objective.hypervolume` for the scale: 0 is no run
beyond every metric's worst value, 1 one run at the best end of every range).

Example:
    >>> front = pareto_front(campaign, campaign.runs())  # doctest: +SKIP
    >>> hypervolume_by_batch(campaign, campaign.runs())  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from recipeopt.campaign import Campaign


def pareto_front(campaign: Campaign, runs: pd.DataFrame) -> pd.DataFrame:
    """Return the complete runs on the Pareto front (run, setpoints, metrics), best score first.

    Runs kept out of the model, and runs that break an outcome constraint, are not on it.
    """
    objective = campaign.objective
    complete = campaign.usable(runs)
    on_front = objective.pareto_front(complete[objective.names].to_numpy(dtype=float))
    front = complete.loc[on_front, ["run_id", *campaign.space.names, *objective.names]]
    front = front.assign(objective=campaign.scores(complete)[on_front])
    return front.sort_values("objective", ascending=False).reset_index(drop=True)


def hypervolume_by_batch(campaign: Campaign, runs: pd.DataFrame) -> pd.DataFrame:
    """Return the hypervolume of the complete runs after each batch (``batch, runs, hypervolume``).

    Batches with no complete run yet (pending, or every run failed) are left out.
    """
    usable = campaign.usable(runs)
    batches = list(dict.fromkeys(usable["batch_id"]))
    rows = []
    for k, batch in enumerate(batches):
        so_far = usable[usable["batch_id"].isin(batches[: k + 1])]
        values = so_far[campaign.objective.names].to_numpy(dtype=float)
        rows.append(
            {
                "batch": batch,
                "runs": len(so_far),
                "hypervolume": campaign.objective.hypervolume(values),
            }
        )
    return pd.DataFrame(rows, columns=["batch", "runs", "hypervolume"])
