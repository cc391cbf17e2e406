"""Compare the budget-100 maml-ensemble records with the gp ones (seed 0, then seeds 1-2).

Rows: session 4's maml-ensemble, ``greedy_runs`` 20 with ``residual_gp`` off (session 7,
whose ``comparison.txt`` this script's first rows reproduce) and on (session 9), and
``guard-qlognei/`` (session 11: qLogNEI, not a greedy batch, whenever the guard sets the
prior aside before 20 runs) and ``schedule/`` (session 15: the session-12 early-stopping
rule's checkpoint, adapted below 20 runs for the steps the held-out history recipes chose).
The gp rows are the session-2 and -4 records; ``gp-session15/`` holds the gp baseline rerun
with the session-15 code (its GP batches differ from theirs) to 144 runs: its row
uses their first 100 runs, and a line gives its experiments to regret <= 0.1 within 144.
A later section adds seeds 1 and 2 (``seeds-1-2/``, both methods to 100 runs): seed 1
from session 17, the same code and checkpoint as ``schedule/`` and ``gp-session15/``;
seed 2 from session 19, whose maml-ensemble has ``model.hedge`` 1 (session 18; the same
checkpoint weights, and the same code from 20 runs on). The section after it pools the
shipped default (``model.hedge`` 1) on all three seeds: ``hedge/`` (session 21, seeds 0-1)
with seed 2, against the gp records, where ``gp-session21/`` holds longer runs of gp pairs
(seed 2, made on the machine that made ``seeds-1-2/``'s seed 2, so their first 100 runs are
those records'). The next section replaces seed 1's gp records with ``gp-session22/``
(session 22: all ten seed-1 pairs rerun to 176 runs on the machine type that made ``hedge/``,
and seed 2's r100008-r100009 to 176), and ends with a bootstrap over its 30 pairs. The last
section also replaces seed 0's rerun pairs with ``gp-session22-seed0/`` (176 runs, likewise).
A last block compares the ``model.trust_region_patience`` 1 records (sessions 23 and 24,
both stopped early) with the shipped default's records of the same pairs.

Run from the repository root:
    python benchmarks/results/etch-budget100-residual-gp/compare.py
"""

import glob
import json

import numpy as np

R = "benchmarks/results"


def load(patterns: list[str], seed: int = 0) -> dict[int, np.ndarray]:
    """Return ``{recipe: regret trace}`` of the budget-100 records of ``seed``."""
    out = {}
    for pattern in patterns:
        for path in glob.glob(pattern):
            with open(path) as f:
                record = json.load(f)
            if record["seed"] == seed and record["budget"] >= 100:
                out[record["recipe"]] = np.array(record["regret"])
    return out


def n_to(trace: np.ndarray, target: float) -> float:
    """Experiments until the regret is at most ``target`` (inf if never)."""
    hits = np.where(trace <= target)[0]
    return int(hits[0]) + 1 if len(hits) else np.inf


gp = load([R + "/etch-runs/gp__*.json", R + "/etch-maml-runs/gp__*.json"])
old = load([R + "/etch-maml-runs/maml-ensemble__*.json"])
off = load([R + "/etch-budget100-greedy-runs-20/maml-ensemble__*.json"])
new = load([R + "/etch-budget100-residual-gp/maml-ensemble__*.json"])
guarded = load([R + "/etch-budget100-residual-gp/guard-qlognei/maml-ensemble__*.json"])
scheduled = load([R + "/etch-budget100-residual-gp/schedule/maml-ensemble__*.json"])
gp144 = load([R + "/etch-budget100-residual-gp/gp-session15/gp__*.json"])
gp15 = {k: v[:100] for k, v in gp144.items()}
keys = sorted(new)
print("recipes", keys)
for name, d in (
    ("gp", gp),
    ("maml old (s4)", old),
    ("residual_gp off", off),
    ("residual_gp on", new),
    ("guard-qlognei", guarded),
    ("schedule", scheduled),
    ("gp (session 15)", gp15),
):
    k2 = [k for k in keys if k in d]
    to2 = [n_to(d[k], 0.2) for k in k2]
    to1 = [n_to(d[k], 0.1) for k in k2]
    print(f"{name:15s} n", len(k2), "n_to_0.2", to2, "median", np.median(to2))
    print(
        " " * 15,
        "n_to_0.1",
        to1,
        "median",
        np.median(to1),
        f"regret@100 median {np.median([d[k][99] for k in k2]):.3f}",
        f"@40 {np.median([d[k][39] for k in k2]):.3f}",
    )
k2 = [k for k in keys if k in gp]
for name, d in (("residual_gp on", new), ("guard-qlognei", guarded), ("schedule", scheduled)):
    print(
        f"{name} below gp @100",
        sum(d[k][99] < gp[k][99] for k in k2),
        "/",
        len(k2),
        " @40",
        sum(d[k][39] < gp[k][39] for k in k2),
    )
k15 = [k for k in keys if k in gp15]
print(
    "schedule against gp (session 15), recipes",
    k15,
    "below @100",
    sum(scheduled[k][99] < gp15[k][99] for k in k15),
    " @40",
    sum(scheduled[k][39] < gp15[k][39] for k in k15),
)
to1 = [n_to(gp144[k], 0.1) for k in k15]
print("gp (session 15) n_to_0.1 within 144 runs", to1, "median", np.median(to1))
# Recipes 100003 and 100008 (above 0.1 at 144 runs) to 196 runs; 100000-100002 stop at 144.
gp196 = {**gp144, **load([R + "/etch-budget100-residual-gp/gp-session16-196/gp__*.json"])}
to1 = {k: n_to(gp196[k], 0.1) for k in k15}
print("gp (session 15) n_to_0.1, 100003 and 100008 to 196 runs", list(to1.values()))
print("  not reached: recipe -> runs made", {k: len(gp196[k]) for k in k15 if to1[k] == np.inf})
# A recipe not reached within its L runs may reach 0.1 at run L + 1 or never, so the
# GP's median lies between these two.
lo = np.median([n if n != np.inf else len(gp196[k]) + 1 for k, n in to1.items()])
hi = np.median(list(to1.values()))
m = np.median([n_to(scheduled[k], 0.1) for k in k15])
print(f"  gp median n_to_0.1 between {lo:.1f} and {hi:.1f}; schedule's median {m:.1f} is", end=" ")
print(f"{m / hi:.3f}x to {m / lo:.3f}x of it")


def to_bounds(traces: dict[int, np.ndarray], target: float = 0.1) -> tuple[list, list]:
    """Experiments to ``target`` per recipe, as (fewest possible, most possible).

    A trace that does not reach it within its L runs may reach it at run L + 1 or never.
    """
    hi = [n_to(t, target) for t in traces.values()]
    lo = [n if n != np.inf else len(t) + 1 for n, t in zip(hi, traces.values(), strict=True)]
    return lo, hi


Traces = dict[int, np.ndarray]


def common_pairs(maml: dict[int, Traces], gp: dict[int, Traces]) -> list[tuple[int, int]]:
    """Return the (seed, recipe) pairs that both methods ran."""
    return [(s, k) for s in sorted(maml) for k in sorted(maml[s]) if k in gp.get(s, {})]


def pair_bounds(runs: dict[int, Traces], pairs: list[tuple[int, int]]) -> tuple[list, list]:
    """``to_bounds`` of ``runs``' traces of ``pairs``, in their order."""
    return to_bounds({i: runs[s][k] for i, (s, k) in enumerate(pairs)})


def pool(maml: dict[int, Traces], gp: dict[int, Traces]) -> None:
    """Print target 2a over every (seed, recipe) pair both methods ran.

    Args:
        maml: ``{seed: {recipe: regret trace}}`` of maml-ensemble.
        gp: The same for gp.
    """
    pairs = common_pairs(maml, gp)
    print(f"  {len(pairs)} pairs")
    for s in sorted(maml):
        ks = [k for t, k in pairs if t == s]
        print(f"  seed {s} maml-ensemble n_to_0.1", [n_to(maml[s][k], 0.1) for k in ks])
        print(f"  seed {s} gp            n_to_0.1", [n_to(gp[s][k], 0.1) for k in ks], end=" ")
        print("runs made", [len(gp[s][k]) for k in ks])
    for at in (40, 100):
        below = sum(maml[s][k][at - 1] < gp[s][k][at - 1] for s, k in pairs)
        print(
            f"  regret @{at}: maml-ensemble below gp in {below} of {len(pairs)}; medians", end=" "
        )
        print(f"{np.median([maml[s][k][at - 1] for s, k in pairs]):.3f} against", end=" ")
        print(f"{np.median([gp[s][k][at - 1] for s, k in pairs]):.3f}")
    bounds = {}
    for name, runs in (("maml-ensemble", maml), ("gp", gp)):
        lo, hi = pair_bounds(runs, pairs)
        bounds[name] = (np.median(lo), np.median(hi))
        print(f"  {name:13s} median n_to_0.1 between", end=" ")
        print(f"{bounds[name][0]:.1f} and {bounds[name][1]:.1f}")
    (m_lo, m_hi), (g_lo, g_hi) = bounds["maml-ensemble"], bounds["gp"]
    print(f"  ratio maml-ensemble / gp between {m_lo / g_hi:.3f}x and {m_hi / g_lo:.3f}x", end=" ")
    print("(target 0.5x)")


def spread(maml: dict[int, Traces], gp: dict[int, Traces]) -> None:
    """Print how far the pairs pin target 2a's ratio down, by resampling them.

    10,000 draws of the pairs with replacement; every unreached pair counts as reaching
    regret 0.1 at the run after its last (the lower end of ``pool``'s bounds).
    """
    pairs = common_pairs(maml, gp)
    lo = {
        name: np.array(pair_bounds(runs, pairs)[0]) for name, runs in (("maml", maml), ("gp", gp))
    }
    draws = np.random.default_rng(0).integers(0, len(pairs), (10_000, len(pairs)))
    ratio = np.median(lo["maml"][draws], axis=1) / np.median(lo["gp"][draws], axis=1)
    print(f"  bootstrap over the {len(pairs)} pairs, unreached at the run after the last:", end=" ")
    print("ratio 5/50/95 %", np.percentile(ratio, [5, 50, 95]).round(3), end=" ")
    print(f"share at most 0.5x {np.mean(ratio <= 0.5):.3f}")


def seeds_1_2(method: str) -> dict[int, Traces]:
    """Return ``seeds-1-2/``'s records of ``method``, by seed."""
    pattern = R + f"/etch-budget100-residual-gp/seeds-1-2/{method}__*.json"
    return {seed: load([pattern], seed=seed) for seed in (1, 2)}


def extend(gp_seeds: dict[int, Traces], folder: str) -> None:
    """Put ``folder``'s gp runs in ``gp_seeds`` in place of the records of the same pairs.

    Prints whether each one's first 100 runs are the record it replaces.
    """
    for seed in sorted(gp_seeds):
        longer = load([R + f"/etch-budget100-residual-gp/{folder}/gp__*.json"], seed=seed)
        for k, trace in longer.items():
            same = np.array_equal(trace[:100], gp_seeds[seed][k][:100])
            print(f"  gp r{k} s{seed} to {len(trace)} runs ({folder}/); its first 100", end=" ")
            print(f"equal the record it replaces: {same}")
            gp_seeds[seed][k] = trace


print("== seeds 0-2 (seed 0: gp to 144/196 runs as above; seeds 1-2: both to 100 runs)")
print("  seed 0: schedule/; seed 1: session 17, no hedge; seed 2: session 19, model.hedge 1")
gp_seeds = {0: {k: gp196[k] for k in k15}, **seeds_1_2("gp")}
pool({0: {k: scheduled[k] for k in k15}, **seeds_1_2("maml-ensemble")}, gp_seeds)

print("== model.hedge 1 on all three seeds: hedge/ (seeds 0-1, session 21) and seeds-1-2/ (seed 2)")
# The gp records as above, where gp-session21/ holds a longer run of the same pair.
extend(gp_seeds, "gp-session21")
hedge_dir = R + "/etch-budget100-residual-gp/hedge/maml-ensemble__*.json"
hedge = {
    0: load([hedge_dir], seed=0),
    1: load([hedge_dir], seed=1),
    2: seeds_1_2("maml-ensemble")[2],
}
pool(hedge, gp_seeds)

print("== the same, with gp-session22/: seed 1's gp rerun on this machine type, to 176 runs")
# Seed 1's gp records in seeds-1-2/ were made on another machine type (their batches differ
# from here after a few runs); gp-session22/ reruns all ten pairs, not only the unreached
# ones, so the seed is one realization of the GP, plus seed 2's last two pairs to 176.
extend(gp_seeds, "gp-session22")
pool(hedge, gp_seeds)
spread(hedge, gp_seeds)

print("== the same, with gp-session22-seed0/: seed 0's gp pairs rerun on this machine type")
# All ten pairs, rerun in recipe order (sessions 22-23), so every gp record pooled here was
# made on the machine type of the maml-ensemble records.
extend(gp_seeds, "gp-session22-seed0")
pool(hedge, gp_seeds)
spread(hedge, gp_seeds)


def find_record(pattern: str, seed: int, recipe: int) -> dict:
    """The record of ``(seed, recipe)`` among the files ``pattern`` matches."""
    for path in glob.glob(pattern):
        with open(path) as f:
            record = json.load(f)
        if (record["seed"], record["recipe"]) == (seed, recipe):
            return record
    raise FileNotFoundError(f"no record of r{recipe} s{seed} in {pattern}")


def replayed_side(pattern: str, seed: int, recipe: int, patience: int | None) -> float:
    """The trust region's side for run 41 of a record, replayed on its noiseless objective.

    The schedule starts after the last sobol batch (the guard's design), and with
    ``patience`` the batches begun before the record's ``greedy_runs`` keep TuRBO's tolerance.
    """
    from recipeopt.acquisition import TrustRegionConfig, trust_region_length

    record = find_record(pattern, seed, recipe)
    objective, methods, q = (
        np.array(record["objective"]),
        record["batch_methods"],
        record["batch"],
    )
    first = 1 + max((i for i, m in enumerate(methods) if m == "sobol"), default=-1)
    made = range(first, 40 // q)  # the batches before run 41
    bests = [objective[q * i : q * i + q].max() for i in made]
    incumbent = objective[: q * first].max() if first else -np.inf
    warmup = sum(q * i < record["greedy_runs"] for i in made)
    config = TrustRegionConfig(failure_tolerance=patience, warmup_batches=warmup)
    return trust_region_length(bests, incumbent, dim=15, q=q, config=config)


print("== model.trust_region_patience 1 against the shipped default (hedge/, seed 2), pair by pair")
# trust-region-patience-1/ (session 23) counted the greedy batches too; -after-greedy/
# (session 24) keeps TuRBO's tolerance until greedy_runs, as the setting now does. Both
# were stopped early: only the pairs they ran are compared.
for folder in ("trust-region-patience-1", "trust-region-patience-1-after-greedy"):
    pattern = R + f"/etch-budget100-residual-gp/{folder}/maml-ensemble__*.json"
    runs = {seed: load([pattern], seed=seed) for seed in hedge}
    pairs = common_pairs(runs, hedge)
    variant, default = (pair_bounds(d, pairs)[1] for d in (runs, hedge))
    print(f"  {folder}/: {len(pairs)} pairs (seed, recipe)", pairs)
    print("    n_to_0.1", variant, "against", default)
    sooner = sum(a < b for a, b in zip(variant, default, strict=True))
    later = sum(a > b for a, b in zip(variant, default, strict=True))
    below = [sum(runs[s][k][at - 1] < hedge[s][k][at - 1] for s, k in pairs) for at in (40, 100)]
    print(f"    reached 0.1 sooner in {sooner}, later in {later}; regret below the", end=" ")
    print(f"default's at 40 runs in {below[0]}, at 100 in {below[1]}")
# ``pairs`` are now -after-greedy/'s.
shipped = {
    0: hedge_dir,
    1: hedge_dir,
    2: R + "/etch-budget100-residual-gp/seeds-1-2/maml-ensemble__*.json",
}
for name, patience in (("patience 1 after greedy", 1), ("default", None)):
    sides = [replayed_side(pattern if patience else shipped[s], s, k, patience) for s, k in pairs]
    print(f"  {name}: trust region's side for run 41 (replayed), median", end=" ")
    print(
        f"{np.median(sides):.3f}, at most 0.05 in {sum(x <= 0.05 for x in sides)} of {len(sides)}"
    )

print("== model.trust_region_patience 1 from 44 complete runs (session 25) against the default")
# The setting changes only the batches proposed from 44 complete runs on, so each pair's
# first 44 runs are the default's (checked below on the objectives) and a pair the default
# took to regret 0.1 within 44 runs is unchanged there: those four were not rerun, and
# their n_to_0.1 is the default record's.
from_44 = R + "/etch-budget100-residual-gp/trust-region-patience-1-from-44/maml-ensemble__*.json"
late = {seed: load([from_44], seed=seed) for seed in hedge}
ran = common_pairs(late, hedge)
same = [
    find_record(from_44, s, k)["objective"][:44] == find_record(shipped[s], s, k)["objective"][:44]
    for s, k in ran
]
print(f"  {len(ran)} pairs rerun; first 44 objectives equal the default's in {sum(same)}")
kept = [(s, k) for s in hedge for k in hedge[s] if n_to(hedge[s][k], 0.1) <= 44]
print("  not rerun (the default reached 0.1 within 44 runs):", kept)
variant, default = (pair_bounds(d, ran)[1] for d in (late, hedge))
print("    n_to_0.1", variant, "against", default)
sooner = sum(a < b for a, b in zip(variant, default, strict=True))
later = sum(a > b for a, b in zip(variant, default, strict=True))
print(f"    reached 0.1 sooner in {sooner}, later in {later}; within 100 runs in", end=" ")
print(f"{sum(np.isfinite(variant))} against {sum(np.isfinite(default))}")
late_all = {s: {k: late[s].get(k, hedge[s][k]) for k in hedge[s]} for s in hedge}
pool(late_all, gp_seeds)
spread(late_all, gp_seeds)
