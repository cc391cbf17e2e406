"""Restarts of qLogNEI's optimizer inside the trust region: 8 (the whole space's) against 4.

``suggest`` optimizes qLogNEI inside a trust region around the best run from
``greedy_runs`` complete runs on; there the restarts are the strategy setting
``region_restarts`` (64 raw samples per restart). This script runs
``maml-ensemble`` campaigns on held-out etch recipes and, at every trust-region
batch, solves the same acquisition function twice: with 8 restarts (512 raw
samples) and with 4 (256). It prints the seconds of each and the acquisition
value of the batch each finds (before rounding to the step grid); the campaign
goes on with the 8-restart batch, so the states are those of the earlier
default. The split is the tuning split.

Run:
    python -m benchmarks.region_restarts --checkpoint CKPT [--recipes 4] [--budget 60]
        [--workers 2] [--landscape OUT/landscape.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from recipeopt.benchmark.runner import Job, load_family, run_job
from recipeopt.simulate.family import TUNING_OFFSET


def compare(job: Job) -> list[dict[str, float]]:
    """Run ``job`` with every trust-region batch solved at 8 and at 4 restarts."""
    import torch

    import recipeopt.strategy.steps as steps

    default = steps.optimize
    rows: list[dict[str, float]] = []

    def both(acq_function: Any, bounds: Any, **kwargs: Any) -> Any:
        if "num_restarts" not in kwargs:  # the whole space: not this setting's business
            return default(acq_function, bounds, **kwargs)
        found = {}
        for restarts in (8, 4):
            effort = {"num_restarts": restarts, "raw_samples": 64 * restarts}
            start = time.perf_counter()
            batch = default(acq_function, bounds, **{**kwargs, **effort})
            seconds = time.perf_counter() - start
            with torch.no_grad():
                found[restarts] = (batch, seconds, float(acq_function(batch.unsqueeze(0))))
        rows.append(
            {
                "recipe": job.recipe,
                "seconds_8": found[8][1],
                "seconds_4": found[4][1],
                "value_8": found[8][2],
                "value_4": found[4][2],
            }
        )
        return found[8][0]

    steps.optimize = both  # type: ignore[assignment]
    run_job(job)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="etch maml checkpoint")
    parser.add_argument("--recipes", type=int, default=4)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmark-output/region_restarts.json"))
    parser.add_argument(
        "--landscape", type=Path, help="a benchmark's landscape.json (else estimated here)"
    )
    args = parser.parse_args()
    family = load_family("etch")
    known = json.loads(args.landscape.read_text()) if args.landscape else {}
    jobs = []
    for recipe in family.held_out(args.recipes, "tuning"):
        f_star, f_median = known.get(str(recipe)) or family.landscape(family.recipe(recipe))
        jobs.append(
            Job(
                family="etch",
                method="maml-ensemble",
                recipe=recipe,
                seed=0,
                budget=args.budget,
                batch=4,
                f_star=f_star,
                f_median=f_median,
                checkpoint=str(args.checkpoint),
            )
        )
    with ProcessPoolExecutor(args.workers) as pool:
        rows = [row for found in pool.map(compare, jobs) for row in found]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=1))
    for row in rows:
        print(
            f"recipe {row['recipe'] - TUNING_OFFSET}: 8 restarts {row['seconds_8']:.1f} s, "
            f"log-acquisition {row['value_8']:.4f} | 4 restarts {row['seconds_4']:.1f} s, "
            f"{row['value_4']:.4f}"
        )
    gaps = [r["value_4"] - r["value_8"] for r in rows]
    ratio = statistics.median(r["seconds_4"] / r["seconds_8"] for r in rows)
    print(
        f"{len(rows)} trust-region batches on {len(jobs)} tuning recipes: median time ratio "
        f"(4 / 8) {ratio:.2f}; log-acquisition of 4 minus 8: median {statistics.median(gaps):.4f}, "
        f"worst {min(gaps):.4f}; 4 restarts higher in {sum(g > 1e-6 for g in gaps)}, "
        f"lower in {sum(g < -1e-6 for g in gaps)}"
    )


if __name__ == "__main__":
    main()
