"""Wall time of ``recipeopt report`` on etch42 (with its history) at 20, 60 and 100 runs.

The same stores as :mod:`benchmarks.suggest_latency` (Sobol recipes measured on a
held-out simulated etch recipe, 15 parameters), the same cached checkpoint. Each
figure is one call after a warm-up call.

Run:
    python -m benchmarks.report_time [--sizes 20,60,100]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from benchmarks.suggest_latency import ROOT, recorded_campaign
from recipeopt.report import build_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,60,100")
    parser.add_argument(
        "--checkpoint", type=Path, default=ROOT / "benchmark-output" / "latency" / "etch42.maml.pt"
    )
    args = parser.parse_args()
    print(f"{'runs':>5} {'report s':>9} {'page MB':>8}")
    for n in [int(s) for s in args.sizes.split(",")]:
        for _warm in (True, False):  # the first call warms up
            campaign = recorded_campaign(n, args.checkpoint)
            start = time.perf_counter()
            page = build_report(campaign)
            elapsed = time.perf_counter() - start
            campaign.close()
        print(f"{n:>5} {elapsed:>9.2f} {len(page) / 1e6:>8.2f}")


if __name__ == "__main__":
    main()
