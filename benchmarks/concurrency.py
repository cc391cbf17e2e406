"""Engineers sharing one store: simultaneous ``record`` and ``suggest`` commands.

Each writer is a real process that runs ``recipeopt record`` once per results
file, one off-plan run per file, all writers at once against one store; then
several ``recipeopt suggest`` commands start at once. Printed per backend
(SQLite file, and a PostgreSQL server started here with pgserver):

* writers x records, rows expected and stored, failed ``record`` calls;
* simultaneous suggests, failed calls, and whether their recipes and run ids
  are all distinct.

Run:
    python -m benchmarks.concurrency [--writers 3] [--records 15] [--suggests 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.bad_inputs import GOOD, RECIPE
from recipeopt.campaign import Campaign

ROOT = Path(__file__).resolve().parents[1]
#: The installed command, as engineers run it.
RECIPEOPT = str(Path(sys.executable).parent / "recipeopt")
RECORDER = """
import subprocess, sys
command, campaign, folder, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
failed = 0
for i in range(count):
    done = subprocess.run(
        [command, "record", campaign, f"{folder}/{i}.csv"],
        capture_output=True, text=True,
    )
    if done.returncode:
        failed += 1
        print(done.stderr.strip(), file=sys.stderr)
print(failed)
"""


def campaign_folder(root: Path, storage: str | None) -> Path:
    """A scratch etch42 (scratch-ensemble model) in ``root``, stored in ``storage``."""
    path = root / "etch42.yaml"
    text = (ROOT / "campaigns" / "etch42.yaml").read_text() + "model: {method: ensemble}\n"
    if storage:
        text += f"storage: '{storage}'\n"
    path.write_text(text)
    (root / "history").symlink_to(ROOT / "campaigns" / "history", target_is_directory=True)
    return path


def record_race(path: Path, writers: int, records: int) -> dict:
    """``writers`` processes each record ``records`` files at once; count rows and failures."""
    procs = []
    for w in range(writers):
        folder = path.parent / f"writer{w}"
        folder.mkdir()
        for i in range(records):
            row = {**RECIPE, **GOOD, "source_power": 500 + 10 * (w * records + i)}
            pd.DataFrame([row]).to_csv(folder / f"{i}.csv", index=False)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RECORDER, RECIPEOPT, str(path), str(folder), str(records)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    failed, errors = 0, []
    for p in procs:
        out, err = p.communicate()
        failed += int(out.strip().splitlines()[-1])
        errors += [line for line in err.splitlines() if line.strip()]
    c = Campaign.load(path)
    runs = c.runs()
    c.close()
    return {
        "writers x records": f"{writers} x {records}",
        "rows expected": writers * records,
        "rows stored": len(runs),
        "distinct run ids": runs["run_id"].nunique(),
        "failed calls": failed,
        "first error": errors[0] if errors else "",
    }


def suggest_race(path: Path, count: int) -> dict:
    """``count`` ``recipeopt suggest --method sobol`` at once; are their batches disjoint?"""
    procs = [
        subprocess.Popen(
            [RECIPEOPT, "suggest", str(path), "--method", "sobol", "--format", "csv"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    outputs = [p.communicate() for p in procs]
    failed = sum(p.returncode != 0 for p in procs)
    c = Campaign.load(path)
    runs = c.runs()
    fresh = runs[runs["method"] == "sobol"]
    cube = c.space.to_cube(c.space.values(fresh))
    c.close()
    distinct = len(np.unique(cube.round(9), axis=0))
    replanned = sum("planned again" in err for _, err in outputs)
    return {
        "simultaneous suggests": count,
        "failed calls": failed,
        "runs stored": len(fresh),
        "distinct recipes": distinct,
        "distinct run ids": fresh["run_id"].nunique(),
        "re-planned": replanned,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--records", type=int, default=15)
    parser.add_argument("--suggests", type=int, default=3)
    args = parser.parse_args()
    rows, suggests = [], []
    with tempfile.TemporaryDirectory() as tmp:
        import pgserver

        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="stop")
        base = server.get_uri().replace("postgresql://", "postgresql+psycopg://", 1)
        try:
            for backend in ("sqlite", "postgresql"):
                for race in ("record", "suggest"):
                    folder = Path(tmp) / f"{backend}-{race}"
                    folder.mkdir()
                    storage = None
                    if backend == "postgresql":
                        server.psql(f"CREATE DATABASE {race}_race;")
                        storage = base.replace("/postgres?", f"/{race}_race?", 1)
                    path = campaign_folder(folder, storage)
                    Campaign.load(path).close()  # the store exists before the race
                    if race == "record":
                        rows.append(
                            {"backend": backend, **record_race(path, args.writers, args.records)}
                        )
                    else:
                        suggests.append({"backend": backend, **suggest_race(path, args.suggests)})
                    shutil.rmtree(folder / "history", ignore_errors=True)
        finally:
            server.cleanup()
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(pd.DataFrame(rows).to_string(index=False))
        print()
        print(pd.DataFrame(suggests).to_string(index=False))


if __name__ == "__main__":
    main()
