"""Wall time of the default ``suggest`` (and of ``status``) against the GP pipeline.

The default is what a user runs: ``suggest`` on etch42 with its history, so
``maml-ensemble`` (the meta-trained prior adapted to the runs, the guard, and
qLogNEI on the residual GP in the trust region). It is timed against
``--method gp`` (BoTorch's ``SingleTaskGP`` + qLogNEI) on the same stores: 20,
60 and 100 complete runs (Sobol recipes measured on a held-out simulated etch
recipe, 15 parameters), batch 4. Each figure is the median over ``--repeats``
calls, each on a fresh copy of the store, after one warm-up call that is not
counted. The checkpoint is meta-trained once on the bundled history
(``campaigns/history/etch42``) and cached in ``--checkpoint``.

``--threads`` sets the torch threads the campaign's model work runs on (the
shipped ``recipeopt.runtime.MODEL_THREADS`` by default), to measure that choice.

Run:
    python -m benchmarks.suggest_latency [--repeats 3] [--sizes 20,60,100] [--profile]
        [--threads N] [--pareto]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

import recipeopt.runtime
from recipeopt.campaign import Campaign
from recipeopt.design import initial_design
from recipeopt.simulate.family import TUNING_OFFSET, get_family

ROOT = Path(__file__).resolve().parents[1]


def recorded_campaign(n: int, checkpoint: Path, seed: int = 0, pareto: bool = False) -> Campaign:
    """Return an in-memory etch42 campaign (with its history) with ``n`` complete runs.

    With ``pareto``, the same campaign with ``objective.mode: pareto``.
    """
    family = get_family("etch")
    path = ROOT / "campaigns" / "etch42.yaml"
    if pareto:
        data = yaml.safe_load(path.read_text())
        data["objective"]["mode"] = "pareto"
        data["history"] = [str(ROOT / "campaigns" / h) for h in data["history"]]
        path = Path(tempfile.mkdtemp()) / "etch42.yaml"
        path.write_text(yaml.safe_dump(data))
    campaign = Campaign.load(path, storage="sqlite://")
    campaign.prior.pinned = checkpoint
    space = campaign.space
    values = initial_design(space, n, seed=seed, exclude=np.zeros((0, space.dim)))
    frame = space.frame(values)
    measured = family.recipe(TUNING_OFFSET).measure(frame, np.random.default_rng(seed))
    campaign.record(frame.join(measured))
    return campaign


def time_call(
    n: int, checkpoint: Path, repeats: int, call: str, pareto: bool = False
) -> list[float]:
    """Return wall times of ``repeats`` calls (``default``, ``gp`` or ``status``)."""
    times = []
    for i in range(repeats + 1):
        campaign = recorded_campaign(n, checkpoint, pareto=pareto)
        start = time.perf_counter()
        if call == "status":
            campaign.status()
        else:
            campaign.suggest(4, seed=i, method="auto" if call == "default" else call)
        elapsed = time.perf_counter() - start
        campaign.close()
        if i:
            times.append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", default="20,60,100")
    parser.add_argument(
        "--checkpoint", type=Path, default=ROOT / "benchmark-output" / "latency" / "etch42.maml.pt"
    )
    parser.add_argument("--profile", action="store_true", help="Profile one default call per size.")
    parser.add_argument("--threads", type=int, default=recipeopt.runtime.MODEL_THREADS)
    parser.add_argument("--pareto", action="store_true", help="The campaign in Pareto mode.")
    args = parser.parse_args()
    recipeopt.runtime.MODEL_THREADS = args.threads
    if not args.checkpoint.exists():
        print(f"meta-training {args.checkpoint} on the bundled history (once)...", flush=True)
        campaign = Campaign.load(ROOT / "campaigns" / "etch42.yaml", storage="sqlite://")
        campaign.pretrain(out=args.checkpoint)
        campaign.close()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.profile:
        for n in sizes:
            campaign = recorded_campaign(n, args.checkpoint)
            profiler = cProfile.Profile()
            profiler.enable()
            campaign.suggest(4, seed=0)
            profiler.disable()
            campaign.close()
            print(f"\n== default suggest at {n} runs: top 25 by cumulative time")
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        return
    print(
        f"torch {torch.__version__}, {args.threads} thread(s) for the models; "
        f"15 parameters, batch 4; median of {args.repeats} calls"
    )
    print(f"{'runs':>5} {'default s':>10} {'gp s':>8} {'gp / default':>13} {'status s':>9}")
    for n in sizes:
        default, gp, status = (
            statistics.median(time_call(n, args.checkpoint, args.repeats, call, args.pareto))
            for call in ("default", "gp", "status")
        )
        print(f"{n:>5} {default:>10.2f} {gp:>8.2f} {gp / default:>13.1f} {status:>9.2f}")


if __name__ == "__main__":
    main()
