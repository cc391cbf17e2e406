"""BoTorch's ``batch_limit`` for the qLogNEI restarts: 4 (the default) against 1, on real batches.

``recipeopt.acquisition`` optimizes qLogNEI with ``optimize_acqf`` and
``batch_limit`` 4, so the 8 L-BFGS/SLSQP restarts are solved 4 at a time as one
problem. With the etch campaign's linear constraints BoTorch uses SLSQP, whose
cost grows steeply with the 4 x q x d variables of such a problem. This script
replays a benchmark record's run with the committed code and, at every qLogNEI
batch, solves the same acquisition function from the same initial conditions
with ``batch_limit`` 4 and 1: it prints the seconds of each and the
acquisition value of the batch each finds. The run continues with the default's
batch, so it must reproduce the record's objective trace (checked at the end).

Run:
    python -m benchmarks.optimizer_batch_limit RECORD.json --checkpoint CKPT [--budget 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

import recipeopt.acquisition as acquisition
from recipeopt.benchmark.runner import Job, run_job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record", type=Path, help="a maml-ensemble benchmark record (JSON)")
    parser.add_argument("--checkpoint", type=Path, required=True, help="the record's checkpoint")
    parser.add_argument("--budget", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(1)
    default = acquisition.optimize_acqf
    ratios, gains = [], []

    def both(acq_function: Any, **kwargs: Any) -> Any:
        found = {}
        for limit in (4, 1):
            options = {**kwargs["options"], "batch_limit": limit}
            start = time.perf_counter()
            batch, _ = default(acq_function, **{**kwargs, "options": options})
            seconds = time.perf_counter() - start
            with torch.no_grad():
                found[limit] = (batch, seconds, float(acq_function(batch.unsqueeze(0))))
        ratios.append(found[1][1] / found[4][1])
        gains.append(found[1][2] - found[4][2])
        print(
            f"batch_limit 4: {found[4][1]:.1f} s, log-acquisition {found[4][2]:.4f} | "
            f"batch_limit 1: {found[1][1]:.1f} s, {found[1][2]:.4f}",
            flush=True,
        )
        return found[4][0], None

    acquisition.optimize_acqf = both  # type: ignore[assignment]
    record = json.loads(args.record.read_text())
    fields = {k: record[k] for k in Job.__dataclass_fields__ if k in record}
    job = Job(**{**fields, "checkpoint": str(args.checkpoint), "budget": args.budget})
    out = run_job(job)
    same = out["objective"] == record["objective"][: args.budget]
    print(
        f"{len(ratios)} batches: median time ratio (1 / 4) {statistics.median(ratios):.2f}; "
        f"batch_limit 1 found a higher acquisition value in {sum(g > 1e-6 for g in gains)}, "
        f"lower in {sum(g < -1e-6 for g in gains)}; "
        f"objective trace identical to the record: {same}"
    )


if __name__ == "__main__":
    main()
