"""Meta-training time at the scale of a real fab history (the issue's target: 5 minutes or less).

Generates ``--recipes`` x ``--runs`` fab-log-shaped runs of the etch family
(the same generator as ``recipeopt simulate history``), then times
``Campaign.pretrain`` with the campaign's default settings (second-order
MAML, 8 members, at most 300 epochs with early stopping) on 2 threads.

Usage::

    python -m benchmarks.pretrain_time --recipes 50 --runs 500
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from recipeopt.campaign import Campaign
from recipeopt.simulate.family import get_family
from recipeopt.simulate.history import history_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=int, default=50)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--algorithm", default="maml")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="/tmp/pretrain-time.pt")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    family = get_family("etch")
    start = time.perf_counter()
    table = pd.concat(
        [history_runs(family, i, args.runs, seed=1) for i in range(args.recipes)],
        ignore_index=True,
    )
    print(f"generated {len(table)} runs in {time.perf_counter() - start:.0f} s", flush=True)
    campaign = Campaign(family.spec, None, storage="sqlite://")
    epochs_seen: list[int] = []
    report = campaign.pretrain(
        algorithm=args.algorithm,
        history=table,
        out=Path(args.out),
        on_epoch=lambda epoch, *_: epochs_seen.append(epoch),
    )
    print(
        f"{args.algorithm}: {report.recipes} recipes x {args.runs} runs, {report.epochs} epochs "
        f"(stopped early: {report.stopped_early}), held-out loss {report.held_out_loss:.3f}, "
        f"{report.seconds:.0f} s ({report.seconds / 60:.1f} min); progress reported "
        f"{len(epochs_seen)} times"
    )


if __name__ == "__main__":
    main()
