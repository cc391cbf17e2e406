"""Compare the residual-GP maml-ensemble records on etch-unlike with the other methods.

Each recipe here is set against the parent folder's random, ensemble and gp records
and ``greedy-runs-20/`` (the same code with ``residual_gp`` off); ``guard-qlognei/``
(session 10) proposes by qLogNEI, not greedily, whenever the guard sets the prior aside
before 20 runs. The last rows (session 18) are maml-ensemble with the current code and
``model.hedge`` 1 (``session18/``). The GP rerun with the same code gave objective
traces identical to the parent folder's gp records for all 6 recipes, so those stand.
Run from the repository root:
    python benchmarks/results/etch-unlike-runs/residual-gp/compare.py
"""

import glob
import json

import numpy as np

R = "benchmarks/results/etch-unlike-runs"


def load(pattern: str) -> dict[int, np.ndarray]:
    """Return ``{recipe: regret trace}``."""
    out = {}
    for path in glob.glob(pattern):
        with open(path) as f:
            record = json.load(f)
        out[record["recipe"]] = np.array(record["regret"])
    return out


gp = load(R + "/gp__*.json")
methods = {
    "random": load(R + "/random__*.json"),
    "ensemble": load(R + "/ensemble__*.json"),
    "gp": gp,
    "residual_gp off": load(R + "/greedy-runs-20/maml-ensemble__*.json"),
    "residual_gp on": load(R + "/residual-gp/maml-ensemble__*.json"),
    "guard-qlognei": load(R + "/guard-qlognei/maml-ensemble__*.json"),
}
keys = sorted(gp)


def medians(methods: dict[str, dict[int, np.ndarray]]) -> None:
    """Print each method's median regret at 20/40/60 runs and each recipe's at 40."""
    for name, d in methods.items():
        at = "  ".join(f"@{n} {np.median([d[k][n - 1] for k in keys]):.3f}" for n in (20, 40, 60))
        print(f"  {name:16s} {at}  @40 each {[round(float(d[k][39]), 2) for k in keys]}")


print(f"{len(keys)} recipes, seed 0; median regret (and each recipe's at 40)")
medians(methods)
for name in ("residual_gp on", "guard-qlognei"):
    d = methods[name]
    print(
        f"  {name} below gp in",
        ", ".join(f"{sum(d[k][n - 1] < gp[k][n - 1] for k in keys)} @{n}" for n in (40, 60)),
        f"(mean regret @40 {np.mean([d[k][39] for k in keys]):.3f},"
        f" gp {np.mean([gp[k][39] for k in keys]):.3f})",
    )

hedged = load(R + "/session18/maml-ensemble__*.json")
print("session 18: the current code's maml-ensemble (model.hedge 1)")
medians({"hedge 1": hedged})
print(
    "  hedge 1 below gp in",
    ", ".join(f"{sum(hedged[k][n - 1] < gp[k][n - 1] for k in keys)} @{n}" for n in (20, 40, 60)),
    f"(mean regret @40 {np.mean([hedged[k][39] for k in keys]):.3f},"
    f" gp {np.mean([gp[k][39] for k in keys]):.3f})",
)
