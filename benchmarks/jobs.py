"""Resumable jobs for the benchmark scripts: one JSON record per job, on a process pool."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from rich.progress import track


def run_jobs(
    jobs: list[dict], run: Callable[[dict], dict], folder: Path, *, workers: int
) -> list[dict]:
    """Return every job's record: read from ``folder`` where written, else run and written.

    Args:
        jobs: The jobs (JSON-able dicts, as :func:`held_out_jobs` makes them).
        run: Runs one job and returns its record (the job's keys included); picklable.
        folder: Holds one ``job_name(job).json`` per finished job, so a rerun resumes.
        workers: Processes of the pool.
    """
    folder.mkdir(parents=True, exist_ok=True)
    records, todo = [], []
    for job in jobs:
        path = folder / f"{job_name(job)}.json"
        (records.append(json.loads(path.read_text())) if path.exists() else todo.append(job))
    with ProcessPoolExecutor(workers) as pool:
        futures = [pool.submit(run, job) for job in todo]
        for future in track(as_completed(futures), total=len(futures), description="jobs"):
            record = future.result()
            (folder / f"{job_name(record)}.json").write_text(json.dumps(record))
            records.append(record)
    return records


def held_out_jobs(
    family: str, methods: list[str], *, recipes: int, seeds: int, budget: int, batch: int,
    split: str, out: Path,
) -> list[dict]:  # fmt: skip
    """Return one job per (held-out recipe, seed, method) of ``family``'s ``split``.

    The meta-learned methods' checkpoints are trained first (once, cached in
    ``out/checkpoints``, as ``recipeopt benchmark`` does); each job names its own.
    """
    from recipeopt.benchmark.runner import Benchmark, load_family

    bench = Benchmark(family, methods, recipes, seeds, budget, batch, out, split=split)
    checkpoints = bench.checkpoints(progress=lambda text: print(text, flush=True))
    return [
        {
            "method": method,
            "recipe": recipe,
            "seed": seed,
            "budget": budget,
            "batch": batch,
            "checkpoint": checkpoints.get((method, recipe), ""),
        }
        for recipe in load_family(family).held_out(recipes, split)
        for seed in range(seeds)
        for method in methods
    ]


def job_name(job: dict) -> str:
    """A job's (and its record's) file stem: ``method-recipe-seed``."""
    return f"{job['method']}-{job['recipe']}-{job['seed']}"
