"""The MAML literature's sanity check, run through recipeopt's own meta-training code.

Regression on sinusoids ``y = A sin(x + phi)``, ``A ~ U[0.1, 5]``,
``phi ~ U[0, pi]``, ``x ~ U[-5, 5]`` (Finn et al. 2017): adapt on 10 points
with one SGD step, score the MSE on 100 other points of the same sinusoid.
MAML is compared with a network of the same architecture pretrained jointly
on the pooled data of every training task (``inner_steps=0``: plain
regression) and fine-tuned the same way. Targets from the issue: MAML MSE at
most 0.5; the joint baseline 2 or more. Both step at the plain inner rate, as
in the literature (``learn_lr=False``; ``--learn-lr`` meta-learns per-layer gains).

Usage::

    python -m benchmarks.sinusoid            # prints both MSEs and their ratio
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from recipeopt.history import MetaTasks
from recipeopt.meta.maml import adapt
from recipeopt.meta.pretrain import MetaConfig, meta_train


def sinusoids(count: int, points: int, seed: int) -> MetaTasks:
    """``count`` sinusoid tasks of ``points`` points; x is mapped from [-5, 5] to [0, 1]."""
    rng = np.random.default_rng(seed)
    X, Y = [], []
    for _ in range(count):
        amplitude, phase = rng.uniform(0.1, 5.0), rng.uniform(0.0, np.pi)
        x = rng.uniform(-5.0, 5.0, (points, 1))
        X.append(torch.as_tensor((x + 5.0) / 10.0, dtype=torch.float32))
        Y.append(torch.as_tensor(amplitude * np.sin(x + phase), dtype=torch.float32))
    return MetaTasks(X, Y, [str(i) for i in range(count)])


def few_shot_mse(result, config: MetaConfig, tasks: MetaTasks, *, shots: int, lr: float) -> float:
    """Mean query MSE (original units) after one SGD step on ``shots`` points."""
    net = config.network(1, 1)
    params = {k: v[0] for k, v in result.params.items()}
    gains = {k: v[0] for k, v in result.gains.items()}
    errors = []
    for X, Y in zip(tasks.X, tasks.Y, strict=True):
        Ys = (Y - result.y_mean) / result.y_std
        fast = adapt(net, params, X[:shots], Ys[:shots], lr=lr, steps=1, gains=gains)
        with torch.no_grad():
            pred = torch.func.functional_call(net, fast, (X[shots:],)) * result.y_std
        errors.append(float(((pred + result.y_mean - Y[shots:]) ** 2).mean()))
    return float(np.mean(errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000)
    # NOTE: at 60 epochs MAML reached MSE 0.623 (joint 3.807), over the target, at every
    # commit checked (961863e, 1a1d672, b2c6a25); 150 gives 0.383 (joint 3.451, which
    # stops early at 60). Both runs share the budget and the stopping rule.
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--lr", type=float, default=0.05, help="Inner learning rate.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--learn-lr", action="store_true", help="Meta-learn per-layer gains.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    train = sinusoids(args.tasks, 20, seed=args.seed)
    test = sinusoids(200, 110, seed=args.seed + 1)
    common = dict(
        members=1,
        hidden=40,
        layers=2,
        inner_lr=args.lr,
        learn_lr=args.learn_lr,
        meta_lr=1e-3,
        meta_batch=25,
        support=(10, 10),
        query=10,
        epochs=args.epochs,
        eval_every=5,
        patience=4,
        validation=0.05,
    )
    results = {}
    for name, config in (
        ("maml", MetaConfig(algorithm="maml", inner_steps=1, **common)),
        ("joint", MetaConfig(algorithm="fomaml", inner_steps=0, **common)),
    ):
        start = time.perf_counter()
        result = meta_train(train, config, seed=args.seed)
        results[name] = few_shot_mse(result, config, test, shots=10, lr=args.lr)
        print(
            f"{name}: 10-shot 1-step MSE {results[name]:.3f} "
            f"({result.epochs} epochs, {time.perf_counter() - start:.0f} s)",
            flush=True,
        )
    print(f"joint / maml MSE ratio: {results['joint'] / results['maml']:.1f}")


if __name__ == "__main__":
    main()
