"""Wall time of one small benchmark sweep through the process pool and a Dask LocalCluster.

Four jobs (random, sobol, gp and ensemble on one etch tuning recipe, seed 0,
budget 16, batch 4), each executor with 2 workers, into separate output
folders; prints both wall times and whether the traces are the same.

Run:
    python -m benchmarks.sweep_executors [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from recipeopt.benchmark.runner import Benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    root = args.out or Path(tempfile.mkdtemp())
    bench = Benchmark(
        "etch",
        ["random", "sobol", "gp", "ensemble"],
        test_recipes=1,
        seeds=1,
        budget=16,
        batch=4,
        out=root / "process",
        landscape_samples=20_000,
        landscape_polish=4,
    )
    (root / "process").mkdir(parents=True, exist_ok=True)
    bench.landscapes()  # estimated once, outside the timing, and shared
    (root / "dask").mkdir(parents=True, exist_ok=True)
    (root / "dask" / "landscape.json").write_text((root / "process" / "landscape.json").read_text())
    times, traces = {}, {}
    for executor, out in (("process", root / "process"), ("dask", root / "dask")):
        start = time.perf_counter()
        records = replace(bench, out=out).run(workers=2, executor=executor)
        times[executor] = time.perf_counter() - start
        traces[executor] = [r["objective"] for r in records]
    print(
        f"4 jobs, 2 workers: process pool {times['process']:.1f} s, "
        f"Dask LocalCluster {times['dask']:.1f} s; same traces: "
        f"{traces['process'] == traces['dask']}"
    )


if __name__ == "__main__":
    main()
