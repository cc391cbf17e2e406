"""Wall time of ``suggest`` on etch42 with 20 and 100 recorded runs, against the GP pipeline.

Both pipelines run in this process on the same recorded runs (Sobol recipes
measured on a held-out simulated etch recipe), through the same
``Campaign.suggest`` code path: the deep ensemble (the default) and BoTorch's
``SingleTaskGP`` + qLogNEI (``method="gp"``). Each figure is the median over
``--repeats`` calls, each on a fresh copy of the campaign so pending runs do
not pile up. The first call of each pipeline is a warm-up and is not counted.

Run:
    python -m benchmarks.suggest_latency [--repeats 5] [--sizes 20,100]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from recipeopt.campaign import Campaign
from recipeopt.design import initial_design
from recipeopt.simulate.family import TEST_OFFSET, get_family


def recorded_campaign(n: int, seed: int = 0) -> Campaign:
    """Return an in-memory etch42 campaign with ``n`` complete runs."""
    family = get_family("etch")
    campaign = Campaign(family.spec, None, storage="sqlite://")
    space = campaign.space
    values = initial_design(space, n, seed=seed, exclude=np.zeros((0, space.dim)))
    frame = space.frame(values)
    measured = family.recipe(TEST_OFFSET).measure(frame, np.random.default_rng(seed))
    campaign.record(frame.join(measured))
    return campaign


def time_suggest(n: int, method: str, repeats: int) -> list[float]:
    """Return wall times of ``repeats`` suggest calls (batch 4) after one warm-up."""
    times = []
    for i in range(repeats + 1):
        campaign = recorded_campaign(n)
        start = time.perf_counter()
        campaign.suggest(4, seed=i, method=method)
        elapsed = time.perf_counter() - start
        campaign.close()
        if i:
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="20,100")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"batch 4; median of {args.repeats} calls"
    )
    print(f"{'runs':>5} {'ensemble s':>11} {'gp s':>8} {'gp / ensemble':>14}")
    for n in [int(s) for s in args.sizes.split(",")]:
        ens = statistics.median(time_suggest(n, "ensemble", args.repeats))
        gp = statistics.median(time_suggest(n, "gp", args.repeats))
        print(f"{n:>5} {ens:>11.2f} {gp:>8.2f} {gp / ens:>14.1f}")


if __name__ == "__main__":
    main()
