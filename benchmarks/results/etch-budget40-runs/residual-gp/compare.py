"""Compare the residual-GP maml-ensemble records with the GP and with ``greedy_runs`` 20 alone.

Each (recipe, seed) pair here is set against the committed gp record of the same pair
and the ``greedy-runs-20/`` maml-ensemble record (the same code with ``residual_gp``
off). Then comes the ablation in ``plain-gp-ablation/``: a constant-mean GP after the
same greedy runs, on seeds 0-2. Then ``guard-qlognei/`` (session 10): qLogNEI, not a
greedy batch, whenever the guard sets the prior aside before 20 runs. Then
``keep-rule/`` (session 12): the same code with a checkpoint meta-trained under the
new early-stopping rule (patience 20, the latest weights within 10 % of the best).
Then ``greedy-runs-8/`` (session 13): the keep-rule code with ``--greedy-runs 8``
(qLogNEI on the residual GP from 8 runs instead of 20), stopped after 20 of 30 pairs.
Then ``greedy-spaced/`` (session 13): the keep-rule checkpoint with greedy batches whose
recipes lie at least 0.25 x sqrt(d) apart on the unit cube. Last, ``schedule/``
(session 14): the same meta-trained weights, with the adaptation steps below 20 runs
(and the spread) chosen per run count on the held-out history recipes. Then the same
``schedule/`` records against ``gp-session15/``: the gp baseline rerun on seeds 0-2 with
the session-15 code (the committed gp records are from sessions 2-6, and the current code's
GP batches differ from theirs). Then ``no-trust-region/`` and ``greedy-trust-region/``
(session 16). Last, session 18: ``hedge-every-batch/`` (an ablation: from the second batch
on, 1 of the 4 runs of every batch from qLogNEI on a plain GP; stopped after 20 pairs) and
``hedge/`` (the product's ``model.hedge`` 1: only greedy batches are hedged). Session 19:
``hedge-2/``. Session 20: ``prior-scale/`` (an ablation: the residual GP's prior mean
weighted and offset by marginal likelihood) and ``gp-session20/`` (the gp baseline rerun on
the machine that made ``hedge/``).
Run from the repository root:
    python benchmarks/results/etch-budget40-runs/residual-gp/compare.py
"""

import glob
import json

import numpy as np

R = "benchmarks/results/etch-budget40-runs"
B = "benchmarks/results/etch-budget100-residual-gp"


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
off = load([R + "/greedy-runs-20/maml-ensemble__*.json"])
new = load([R + "/residual-gp/maml-ensemble__*.json"])
for label, keys in (
    ("seeds 0-2", sorted(k for k in new if k[1] < 3)),
    ("seeds 3-5", sorted(k for k in new if k[1] >= 3)),
    ("all", sorted(new)),
):
    print(f"== {label}: {len(keys)} pairs")
    for name, d in (("gp", gp), ("residual_gp off", off), ("residual_gp on", new)):
        print(
            f"  {name:16s}",
            "  ".join(
                f"@{n} median {np.median([d[k][n - 1] for k in keys]):.3f}"
                f" mean {np.mean([d[k][n - 1] for k in keys]):.3f}"
                for n in (20, 28, 40)
            ),
        )
    for n in (28, 40):
        on_gp = sum(new[k][n - 1] < gp[k][n - 1] for k in keys)
        off_gp = sum(off[k][n - 1] < gp[k][n - 1] for k in keys)
        better = sum(new[k][n - 1] < off[k][n - 1] for k in keys)
        worse = sum(new[k][n - 1] > off[k][n - 1] for k in keys)
        print(
            f"  @{n}: below gp: on {on_gp}, off {off_gp} of {len(keys)};"
            f" on against off: better {better}, worse {worse}"
        )
    hit = sum(new[k][39] <= 0.2 for k in keys), sum(gp[k][39] <= 0.2 for k in keys)
    print(f"  regret <= 0.2 by 40 runs: on {hit[0]}, gp {hit[1]} of {len(keys)}")


def versus(
    title: str,
    base: tuple[str, dict],
    alt: tuple[str, dict],
    at: tuple[int, ...],
    reference: tuple[str, dict] | None = None,
) -> None:
    """Print ``alt`` against ``base`` and a GP (the committed gp records unless given)."""
    (base_name, b), (alt_name, a) = base, alt
    ref_name, ref = reference or ("gp", gp)
    keys = sorted(a.keys() & b.keys())
    print(f"== {title}: {len(keys)} pairs")
    for name, d in ((ref_name, ref), (base_name, b), (alt_name, a)):
        cells = "  ".join(
            f"@{n} median {np.median([d[k][n - 1] for k in keys]):.3f}"
            f" mean {np.mean([d[k][n - 1] for k in keys]):.3f}"
            for n in at
        )
        print(f"  {name:18s} {cells}")
    for n in (28, 40):
        below = [sum(d[k][n - 1] < ref[k][n - 1] for k in keys) for d in (b, a)]
        better = sum(a[k][n - 1] < b[k][n - 1] for k in keys)
        worse = sum(a[k][n - 1] > b[k][n - 1] for k in keys)
        print(
            f"  @{n}: below {ref_name}: {base_name} {below[0]}, {alt_name} {below[1]};"
            f" {alt_name} against {base_name}: better {better}, worse {worse}"
        )


versus(
    "ablation, constant-mean GP after the same greedy runs",
    ("constant-mean GP", load([R + "/plain-gp-ablation/maml-ensemble__*.json"])),
    ("residual GP", new),
    (28, 40),
)
guarded = load([R + "/guard-qlognei/maml-ensemble__*.json"])
kept = load([R + "/keep-rule/maml-ensemble__*.json"])
versus(
    "guard-qlognei, qLogNEI when the guard sets the prior aside",
    ("greedy (session 9)", new),
    ("guard-qlognei", guarded),
    (20, 28, 40),
)
versus(
    "keep-rule, meta-training keeps the latest weights within 10 % of the best held-out loss",
    ("guard-qlognei", guarded),
    ("keep-rule", kept),
    (20, 28, 40),
)
versus(
    "greedy-runs-8, qLogNEI on the residual GP from 8 runs (keep-rule checkpoint)",
    ("keep-rule", kept),
    ("greedy-runs-8", load([R + "/greedy-runs-8/maml-ensemble__*.json"])),
    (12, 20, 28, 40),
)
versus(
    "greedy-spaced, greedy batches at least 0.25 x sqrt(d) apart (keep-rule checkpoint)",
    ("keep-rule", kept),
    ("greedy-spaced", load([R + "/greedy-spaced/maml-ensemble__*.json"])),
    (8, 12, 20, 28, 40),
)
versus(
    "schedule, adaptation steps below 20 runs chosen on the held-out history recipes",
    ("keep-rule", kept),
    ("schedule", load([R + "/schedule/maml-ensemble__*.json"])),
    (8, 12, 20, 28, 40),
)
gp15 = ("gp (session 15)", load([R + "/gp-session15/gp__*.json"]))
schedule = ("schedule", load([R + "/schedule/maml-ensemble__*.json"]))
versus(
    "schedule against the gp baseline rerun with the session-15 code",
    gp15,
    schedule,
    (8, 12, 20, 28, 40),
)
versus(
    "no-trust-region, qLogNEI on the residual GP over the whole cube",
    schedule,
    ("no trust region", load([R + "/no-trust-region/maml-ensemble__*.json"])),
    (20, 28, 40),
    reference=gp15,
)
versus(
    "greedy-trust-region, greedy batches also rank 20,000 candidates in the trust region"
    " (ablation.patch; stopped after 10 pairs)",
    schedule,
    ("greedy + region", load([R + "/greedy-trust-region/maml-ensemble__*.json"])),
    (8, 12, 20, 28, 40),
    reference=gp15,
)
hedged = ("hedge", load([R + "/hedge/maml-ensemble__*.json"]))
versus(
    "hedge-every-batch, from the second batch on 1 of 4 runs from qLogNEI on a plain GP over"
    " the whole space (ablation.patch; stopped after 20 pairs)",
    schedule,
    ("hedge every batch", load([R + "/hedge-every-batch/maml-ensemble__*.json"])),
    (12, 20, 28, 32, 36, 40),
    reference=gp15,
)
versus(
    "hedge, 1 of 4 runs of each greedy batch after the first from qLogNEI on a plain GP",
    schedule,
    hedged,
    (8, 12, 20, 28, 40),
    reference=gp15,
)
versus(
    "hedge-2, 2 of 4 runs of each greedy batch after the first from qLogNEI on a plain GP"
    " (--hedge 2; not adopted, see hedge-2/rule.txt)",
    hedged,
    ("hedge 2", load([R + "/hedge-2/maml-ensemble__*.json"])),
    (8, 12, 20, 28, 40),
    reference=gp15,
)
versus(
    "prior-scale, the residual GP's prior mean weighted and offset per output by marginal"
    " likelihood (ablation.patch; not adopted, see prior-scale/rule.txt; stopped after 23 pairs)",
    hedged,
    ("prior scale", load([R + "/prior-scale/maml-ensemble__*.json"])),
    (20, 28, 40),
    reference=gp15,
)
# The gp baseline again, with the session-20 code on the machine that made hedge/ (whose
# records it repeats exactly): seeds 0-1 here, seed 2 from the budget-100 records.
gp20 = (
    "gp (session 20)",
    {
        k: v[:40]
        for k, v in load([R + "/gp-session20/gp__*.json", B + "/seeds-1-2/gp__*__s2.json"]).items()
    },
)
versus(
    "hedge against the gp baseline rerun on a machine where hedge/'s records repeat exactly"
    " (gp-session20/); gp-session15 is another machine's realization of the same GP",
    gp15,
    hedged,
    (8, 12, 20, 28, 40),
    reference=gp20,
)
