"""Pareto mode on the etch family: hypervolume at 20 / 40 / 60 runs against a plain GP and random.

Each (recipe, seed, method) runs the whole ``suggest``/``record`` loop on a
simulated etch recipe with ``objective.mode: pareto``: ``maml-ensemble`` (the
default with history: the learned prior, meta-trained once on the family's
history, then qLogNEHVI on the residual GP), ``gp`` (qLogNEHVI on BoTorch's
plain GP) and ``random``. The score is the hypervolume of the recipes run so far,
on their noiseless metrics (normalized by the spec ranges, from every metric's
worst value, runs that break an outcome constraint left out), after 20, 40 and
60 runs. Recipes come from the test split (from 200000) unless ``--split tuning``.

Raw per-job records go to ``--out`` (outside the checkout by default; a rerun
resumes); the summary (``summary.csv``: median hypervolume per method and
checkpoint, its ratio to gp's with a bootstrap 5-95 % interval over the pairs, and
how often the method beat gp on the same recipe and seed) and ``hypervolume.png``
go there too.

Run:
    python -m benchmarks.pareto [--recipes 4] [--seeds 1] [--budget 60] [--workers 2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.jobs import held_out_jobs, run_jobs
from recipeopt.benchmark.runner import noise_seed

CHECKS = (20, 40, 60)
FAMILY = "etch"


def run(job: dict) -> dict:
    """Run one Pareto-mode loop; return the hypervolume after each run (noiseless metrics)."""
    import torch

    from recipeopt import runtime
    from recipeopt.campaign import Campaign
    from recipeopt.objective import Objective
    from recipeopt.simulate.family import get_family
    from recipeopt.simulate.loop import run_loop

    torch.set_num_threads(1)
    runtime.TRAINING_THREADS = 1
    family = get_family(FAMILY)
    method = job["method"]
    objective = family.spec.objective.model_copy(update={"mode": "pareto"})
    update: dict = {"objective": objective}
    if method in ("gp", "maml-ensemble"):
        update["model"] = family.spec.model.model_copy(update={"method": method})
    spec = family.spec.model_copy(update=update)
    checkpoint = Path(job["checkpoint"]) if job["checkpoint"] else None
    campaign = Campaign(spec, None, storage="sqlite://", checkpoint=checkpoint)
    task = family.recipe(job["recipe"])
    try:
        result = run_loop(
            campaign,
            family,
            task,
            budget=job["budget"],
            batch=job["batch"],
            seed=job["seed"],
            noise_seed=noise_seed(job["recipe"], job["seed"]),
            method="random" if method == "random" else "auto",
        )
        runs = campaign.runs()
    finally:
        campaign.close()
    truth = task.responses(runs[campaign.space.names])[campaign.objective.names].to_numpy()
    scorer = Objective(spec.objective.metrics, spec.objective.outcome_constraints(), "pareto")
    volumes = [scorer.hypervolume(truth[: n + 1]) for n in range(len(truth))]
    return {**job, "hypervolume": volumes, "seconds": result.seconds}


def bootstrap_ratio(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """5-95 % bootstrap interval of median(a) / median(b) over resampled pairs."""
    picks = rng.integers(0, len(a), size=(2000, len(a)))
    ratios = np.median(a[picks], axis=1) / np.maximum(np.median(b[picks], axis=1), 1e-12)
    return float(np.quantile(ratios, 0.05)), float(np.quantile(ratios, 0.95))


def summarize(records: list[dict]) -> pd.DataFrame:
    """Median hypervolume per method at each check, its ratio to gp's, and wins against gp."""
    rng = np.random.default_rng(0)
    by = {
        (r["method"], r["recipe"], r["seed"]): np.asarray(r["hypervolume"], dtype=float)
        for r in records
    }
    pairs = sorted({(recipe, seed) for _, recipe, seed in by})
    rows = []
    budget = min(len(r["hypervolume"]) for r in records)
    for method in dict.fromkeys(r["method"] for r in records):
        for n in [n for n in CHECKS if n <= budget] or [budget]:
            mine = np.array([by[(method, *p)][n - 1] for p in pairs if (method, *p) in by])
            gp = np.array([by[("gp", *p)][n - 1] for p in pairs if ("gp", *p) in by])
            row = {"method": method, "runs": n, "pairs": len(mine), "median": np.median(mine)}
            if len(gp) == len(mine) and len(mine):
                row["ratio_to_gp"] = row["median"] / max(np.median(gp), 1e-12)
                row["ratio_lo"], row["ratio_hi"] = bootstrap_ratio(mine, gp, rng)
                row["beats_gp"] = float(np.mean(mine > gp))
            rows.append(row)
    return pd.DataFrame(rows)


def plot(records: list[dict], path: Path) -> None:
    """Median hypervolume against runs, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for method in dict.fromkeys(r["method"] for r in records):
        traces = np.array([r["hypervolume"] for r in records if r["method"] == method])
        ax.plot(np.arange(1, traces.shape[1] + 1), np.median(traces, axis=0), label=method)
    ax.set(xlabel="experiments", ylabel="hypervolume (median)", title="Pareto mode, etch family")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--budget", type=int, default=max(CHECKS))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--methods", default="random,gp,maml-ensemble")
    parser.add_argument("--split", default="test", choices=["tuning", "test"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=Path.home() / ".cache" / "recipeopt" / "benchmarks" / "pareto"
    )
    args = parser.parse_args()
    methods = args.methods.split(",")
    jobs = held_out_jobs(
        FAMILY, methods, recipes=args.recipes, seeds=args.seeds, budget=args.budget,
        batch=args.batch, split=args.split, out=args.out,
    )  # fmt: skip
    records = run_jobs(jobs, run, args.out / "runs", workers=args.workers)
    summary = summarize(records)
    summary.to_csv(args.out / "summary.csv", index=False)
    plot(records, args.out / "hypervolume.png")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {args.out / 'summary.csv'} and {args.out / 'hypervolume.png'}")


if __name__ == "__main__":
    main()
