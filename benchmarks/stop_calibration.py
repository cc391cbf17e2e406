"""How often the stop signal's "diminishing returns" call was followed by a real gain.

Each simulated campaign (etch family, the default ``maml-ensemble`` with the
family's history, batch 4) runs the ``suggest``/``record`` loop; after every
batch from 8 complete runs on, it asks ``status`` for the stop signal (the
chance that the next batch beats the best run by ``objective.margin``, 0.01).
Then the next batch is run, and its recipes are scored without noise: a
**real gain** is a next batch whose best noiseless objective beats the best
noiseless objective so far by the margin. The calibration table bins the calls
by their chance and gives how often a real gain followed (in the next batch,
and within the next three); the "diminishing returns" calls (chance < 10 %) are
the first rows. Recipes come from the test split unless ``--split tuning``.

Raw per-campaign records go to ``--out`` (outside the checkout by default; a
rerun resumes); ``calibration.csv`` too.

Run:
    python -m benchmarks.stop_calibration [--recipes 4] [--seeds 1] [--budget 60] [--workers 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.jobs import held_out_jobs, run_jobs
from recipeopt.benchmark.runner import load_family, noise_seed

FAMILY = "etch"
#: Chance bins of the calibration table; the first is the "diminishing returns" call.
BINS = (0.0, 0.1, 0.3, 0.6, 1.0)
#: Complete runs before the first call (the design of 8).
FIRST_CALL = 8


def run(job: dict) -> dict:
    """Run one campaign; return each call's chance and the noiseless objective of every run."""
    import torch

    from recipeopt import runtime
    from recipeopt.campaign import Campaign
    from recipeopt.simulate.loop import LoopResult, run_loop

    torch.set_num_threads(1)
    runtime.TRAINING_THREADS = 1
    family = load_family(FAMILY)
    model = family.spec.model.model_copy(update={"method": "maml-ensemble"})
    spec = family.spec.model_copy(update={"model": model})
    campaign = Campaign(spec, None, storage="sqlite://", checkpoint=Path(job["checkpoint"]))
    calls: list[dict] = []

    def call(result: LoopResult) -> None:
        if len(result.objective) >= FIRST_CALL and len(result.objective) < job["budget"]:
            ahead = campaign.status(fit=True, seed=job["seed"]).outlook
            if ahead is not None:
                calls.append(
                    {
                        "runs": len(result.objective),
                        "chance": ahead.chance,
                        "expected_gain": ahead.expected_gain,
                        "margin": ahead.margin,
                    }
                )

    try:
        result = run_loop(
            campaign,
            family,
            family.recipe(job["recipe"]),
            budget=job["budget"],
            batch=job["batch"],
            seed=job["seed"],
            noise_seed=noise_seed(job["recipe"], job["seed"]),
            on_batch=call,
        )
    finally:
        campaign.close()
    return {**job, "objective": result.objective, "calls": calls}


def outcomes(record: dict, horizon: int = 3) -> list[dict]:
    """Each call of one campaign, with whether a real gain followed (next batch, next three)."""
    truth = np.asarray(record["objective"], dtype=float)
    q = record["batch"]
    rows = []
    for c in record["calls"]:
        n = c["runs"]
        best = truth[:n].max()
        rows.append(
            {
                **c,
                "recipe": record["recipe"],
                "gain_next": bool(truth[n : n + q].max(initial=-np.inf) > best + c["margin"]),
                "gain_within_3": bool(
                    truth[n : n + horizon * q].max(initial=-np.inf) > best + c["margin"]
                ),
            }
        )
    return rows


def calibration(records: list[dict]) -> pd.DataFrame:
    """Bin the calls by chance; per bin, calls, mean chance and how often a real gain followed."""
    calls = pd.DataFrame([row for r in records for row in outcomes(r)])
    calls["bin"] = pd.cut(calls["chance"], BINS, include_lowest=True, right=False)
    table = calls.groupby("bin", observed=False).agg(
        calls=("chance", "size"),
        mean_chance=("chance", "mean"),
        gain_next=("gain_next", "mean"),
        gain_within_3=("gain_within_3", "mean"),
    )
    table.index = table.index.astype(str)
    return table.reset_index()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--split", default="test", choices=["tuning", "test"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path.home() / ".cache" / "recipeopt" / "benchmarks" / "stop-calibration",
    )
    args = parser.parse_args()
    jobs = held_out_jobs(
        FAMILY, ["maml-ensemble"], recipes=args.recipes, seeds=args.seeds, budget=args.budget,
        batch=args.batch, split=args.split, out=args.out,
    )  # fmt: skip
    records = run_jobs(jobs, run, args.out / "runs", workers=args.workers)
    table = calibration(records)
    table.to_csv(args.out / "calibration.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"wrote {args.out / 'calibration.csv'}")


if __name__ == "__main__":
    main()
