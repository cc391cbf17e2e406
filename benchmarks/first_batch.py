"""The meta-prior's first batch (before any run on the recipe) against a Sobol and a random batch.

For each held-out test recipe of the family, a fresh campaign proposes its
first batch three ways: ``suggest`` with the meta-learned prior (the batch a
user with history gets), the scrambled-Sobol design and uniform random
feasible recipes. Each batch is scored by its best noiseless objective as a
normalized regret (0 = the recipe's optimum, 1 = its median recipe). The issue's
target: the prior's batch beats Sobol.

Usage::

    python -m benchmarks.first_batch --checkpoint campaigns/etch42.maml.pt --recipes 30

Prints the median best-of-batch regret of each method, the share of recipes
where the prior's batch beats Sobol's, and the share of batches below regret
0.5.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recipeopt.benchmark.metrics import regret_trace
from recipeopt.campaign import Campaign
from recipeopt.simulate.family import get_family


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="etch")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--recipes", type=int, default=30)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument(
        "--landscapes",
        type=Path,
        default=None,
        help="JSON cache of each recipe's optimum and median (a benchmark's landscape.json).",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    family = get_family(args.family)
    cache = args.landscapes
    known = json.loads(cache.read_text()) if cache and cache.exists() else {}
    rows = []
    for index in family.held_out(args.recipes):
        task = family.recipe(index)
        if str(index) not in known:
            known[str(index)] = family.landscape(task, samples=20_000, polish=4)
            if cache:
                cache.write_text(json.dumps(known, indent=1))
        f_star, f_median = known[str(index)]
        for seed in range(args.seeds):
            for method in ("maml-ensemble", "sobol", "random"):
                campaign = Campaign(
                    family.spec, None, storage="sqlite://", checkpoint=args.checkpoint
                )
                batch = campaign.suggest(args.batch, seed=seed, method=method)
                campaign.close()
                f = family.score(task, family.space.frame(family.space.values(batch)))
                regret = regret_trace(np.sort(f), f_star, f_median)[-1]
                rows.append({"recipe": index, "seed": seed, "method": method, "regret": regret})
        print(f"recipe {index} done", flush=True)
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["recipe", "seed"], columns="method", values="regret")
    print(f"best-of-{args.batch} normalized regret of the first batch, {len(wide)} pairs")
    print(table.groupby("method")["regret"].describe()[["50%", "25%", "75%"]].round(3))
    print(f"share below 0.5: {(wide < 0.5).mean().round(2).to_dict()}")
    beats = float((wide["maml-ensemble"] < wide["sobol"]).mean())
    ratio = wide["maml-ensemble"].median() / wide["sobol"].median()
    print(f"prior beats Sobol in {beats:.0%} of pairs; median ratio prior / Sobol {ratio:.2f}")


if __name__ == "__main__":
    main()
