"""Continue a stalled maml-ensemble pair from its first START runs, with and without a faster box.

Session 23's exploratory A/B behind ``model.trust_region_patience``. It first
remakes the pair's closed loop (``hedge/``'s settings and checkpoint) to
``START`` runs in an SQLite file, then continues a copy of it to 100 runs with
fresh measurement noise (``NOISE`` shifts the benchmark's noise seed):

* ``base``: the shipped code;
* ``trfast``: ``trust_region_patience`` 1, and the box never doubles after
  successes (the schedule's success tolerance is unbounded): the trust region
  halves after every batch without a better run;
* ``plain``: qLogNEI's GP without the adapted ensemble as its prior mean.

It prints the best regret at the start and at 100 runs, and the run at which the
regret first reaches 0.1. ``OUT`` is the folder of the ``hedge/`` benchmark
command (its ``landscape.json`` and ``checkpoints/maml.pt``).

Run from the repository root:
    python benchmarks/results/etch-budget100-residual-gp/stall-continuations/continue.py \
        OUT RECIPE SEED START VARIANT NOISE
"""

import json
import shutil
import sqlite3
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

import recipeopt.acquisition as acq
from recipeopt.benchmark.metrics import experiments_to, regret_trace
from recipeopt.benchmark.runner import load_family, noise_seed
from recipeopt.campaign import Campaign
from recipeopt.simulate.loop import run_loop

BUDGET = 100


def main() -> None:
    out, recipe, seed, start, variant, noise = sys.argv[1:7]
    out, recipe, seed, start, noise = Path(out), int(recipe), int(seed), int(start), int(noise)
    torch.set_num_threads(1)
    update = {"method": "maml-ensemble", "algorithm": "maml"}
    if variant == "trfast":
        update["trust_region_patience"] = 1
        acq.TrustRegionConfig = partial(acq.TrustRegionConfig, success_tolerance=sys.maxsize)
    elif variant == "plain":
        fit = Campaign._gp
        Campaign._gp = lambda self, X, Y, prior=None: fit(self, X, Y)
    family = load_family("etch")
    spec = family.spec.model_copy(update={"model": family.spec.model.model_copy(update=update)})
    f_star, f_median = json.loads((out / "landscape.json").read_text())[str(recipe)]
    checkpoint = out / "checkpoints" / "maml.pt"
    task, space = family.recipe(recipe), family.space

    state = out / f"stall-r{recipe}s{seed}-{start}.db"
    if not state.exists():  # the pair's own loop (the benchmark's noise) to START runs
        campaign = Campaign(spec, None, storage=f"sqlite:///{state}", checkpoint=checkpoint)
        run_loop(
            campaign,
            family,
            task,
            budget=start,
            batch=4,
            seed=seed,
            noise_seed=noise_seed(recipe, seed),
        )
        campaign.close()
    copy = out / f"stall-r{recipe}s{seed}-{start}-{variant}-{noise}.db"
    shutil.copy(state, copy)
    with sqlite3.connect(copy) as con:
        con.execute(f"delete from runs where rowid > {start}")
    campaign = Campaign(spec, None, storage=f"sqlite:///{copy}", checkpoint=checkpoint)
    before = family.score(task, space.frame(space.values(campaign.runs())))
    result = run_loop(
        campaign,
        family,
        task,
        budget=BUDGET - start,
        batch=4,
        seed=seed,
        noise_seed=noise_seed(recipe, seed) + noise,
    )
    campaign.close()
    best = regret_trace(np.concatenate([before, result.objective]), f_star, f_median)
    n = experiments_to(best, 0.1)
    print(
        variant,
        recipe,
        seed,
        [str(noise)],
        "start",
        start,
        f"best@start {best[start - 1]:.3f}",
        f"best@end {best[-1]:.3f}",
        "n0.1",
        int(n) if np.isfinite(n) else None,
        "trace",
        np.round(best[start - 1 :: 8], 3).tolist(),
        flush=True,
    )


if __name__ == "__main__":
    main()
