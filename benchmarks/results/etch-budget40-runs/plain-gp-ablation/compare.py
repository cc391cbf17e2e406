"""Ablation: the residual GP against a constant-mean GP after the same 20 greedy runs.

Each (recipe, seed) pair of seeds 0-2 is set against the committed gp record and the
``residual-gp/`` maml-ensemble record of the same pair. Run from the repository root:
    python benchmarks/results/etch-budget40-runs/plain-gp-ablation/compare.py
"""

import glob
import json

import numpy as np

R = "benchmarks/results/etch-budget40-runs"


def load(patterns: list[str]) -> dict[tuple[int, int], np.ndarray]:
    """Return ``{(recipe, seed): regret trace}``."""
    out = {}
    for pattern in patterns:
        for path in glob.glob(pattern):
            with open(path) as f:
                record = json.load(f)
            out[(record["recipe"], record["seed"])] = np.array(record["regret"])
    return out


gp = load([R + "/gp__*.json", R + "/seeds-3-5/gp__*.json"])
residual = load([R + "/residual-gp/maml-ensemble__*.json"])
plain = load([R + "/plain-gp-ablation/maml-ensemble__*.json"])
keys = sorted(plain)
print(f"{len(keys)} pairs")
for name, d in (("gp", gp), ("residual GP", residual), ("constant-mean GP", plain)):
    at = "  ".join(
        f"@{n} median {np.median([d[k][n - 1] for k in keys]):.3f}"
        f" mean {np.mean([d[k][n - 1] for k in keys]):.3f}"
        for n in (28, 40)
    )
    print(f"  {name:17s} {at}")
for n in (28, 40):
    below = [sum(d[k][n - 1] < gp[k][n - 1] for k in keys) for d in (residual, plain)]
    better = sum(residual[k][n - 1] < plain[k][n - 1] for k in keys)
    worse = sum(residual[k][n - 1] > plain[k][n - 1] for k in keys)
    print(
        f"  @{n}: below gp: residual {below[0]}, constant mean {below[1]};"
        f" residual against constant mean: better {better}, worse {worse}"
    )
