"""How hard is the etch family? Random search against the estimated optimum, noiseless.

For each test recipe, draws random feasible recipes (snapped to steps) and
reports the normalized regret of the best of the first 20, 100, 300 and 1000,
as the benchmark defines it: ``(f_star - best) / (f_star - f_median)``.
Also checks that the objective is not separable: the share of variance that an
additive (per-parameter) fit explains on random recipes.

Run:
    python -m benchmarks.simulator_hardness [--family etch] [--recipes 10]
"""

from __future__ import annotations

import argparse

import numpy as np

from recipeopt.benchmark.metrics import regret_trace
from recipeopt.design import sample_feasible
from recipeopt.simulate.family import get_family

COUNTS = (20, 100, 300, 1000)


def additive_r2(family, task, seed: int = 0, n: int = 4000, bins: int = 8) -> float:  # type: ignore[no-untyped-def]
    """R^2 of the best additive model (per-parameter binned means, backfitted) on random recipes."""
    X = sample_feasible(family.space, n, seed=seed)
    f = family.score(task, family.space.frame(family.space.from_cube(X)))
    idx = np.minimum((X * bins).astype(int), bins - 1)
    fit = np.full(len(f), f.mean())
    parts = np.zeros_like(X)
    for _ in range(10):  # backfitting
        for j in range(X.shape[1]):
            residual = f - fit + parts[:, j]
            means = np.array(
                [
                    residual[idx[:, j] == b].mean() if (idx[:, j] == b).any() else 0.0
                    for b in range(bins)
                ]
            )
            fit += means[idx[:, j]] - parts[:, j]
            parts[:, j] = means[idx[:, j]]
    return float(1.0 - np.var(f - fit) / np.var(f))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="etch")
    parser.add_argument("--recipes", type=int, default=10)
    args = parser.parse_args()
    family = get_family(args.family)
    rows = []
    for index in family.held_out(args.recipes):
        task = family.recipe(index)
        f_star, f_median = family.landscape(task)
        X = sample_feasible(family.space, 3 * max(COUNTS), seed=index)[: max(COUNTS)]
        f = family.score(task, family.space.frame(family.space.from_cube(X)))
        regret = regret_trace(f, f_star, f_median)
        rows.append([regret[n - 1] for n in COUNTS] + [additive_r2(family, task)])
        print(
            f"recipe {index}: f* {f_star:.3f}, median {f_median:.3f}, random-search regret "
            + ", ".join(f"@{n} {r:.2f}" for n, r in zip(COUNTS, rows[-1], strict=False))
            + f"; additive R^2 {rows[-1][-1]:.2f}"
        )
    med = np.median(np.array(rows), axis=0)
    print(
        "median over recipes: random-search regret "
        + ", ".join(f"@{n} {r:.2f}" for n, r in zip(COUNTS, med, strict=False))
        + f"; additive R^2 {med[-1]:.2f}"
    )


if __name__ == "__main__":
    main()
