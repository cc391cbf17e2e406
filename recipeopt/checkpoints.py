"""Meta-trained weights on disk, with what they were trained for.

A checkpoint is one ``torch.save`` file of plain tensors, numbers and strings
(it loads with ``weights_only=True``):

* ``params``: the members' weights, stacked ``s x ...``;
* ``gains``: the members' inner-rate gain per parameter tensor, ``s`` each
  (ones unless meta-learned; checkpoints from before gains load with ones);
* ``config``: the :class:`~recipeopt.meta.pretrain.MetaConfig`;
* ``parameters`` and ``metrics``: names, order, bounds, scale and choices of
  the parameters, and names and normalization ranges of the metrics;
* ``y_mean`` / ``y_std``: the global output standardization;
* ``spread``: calibration of the prior and of the few-shot adapted members;
* ``schedule``: ``[runs, steps]`` pairs, the adaptation length chosen on the
  held-out recipes per support size (checkpoints from before it adapt
  ``inner_steps`` at every size);
* ``history``: the content hash of the history files, and counts of recipes,
  runs and dropped runs;
* ``training``: epochs, held-out loss, the recipes trained and held out, the
  inner rate training ended at and each recovery from a diverged meta-loss;
* ``versions``: :func:`library_versions`.

:func:`check_compatible` refuses a checkpoint for other parameters, bounds,
scales, choices or metrics, in one line that says what differs;
:func:`is_stale` says when the history or the model settings changed, so
that ``suggest`` meta-trains again.

Example:
    >>> save_checkpoint(path, result, config, space, objective, history)  # doctest: +SKIP
    >>> ckpt = load_checkpoint(path)  # doctest: +SKIP
    >>> check_compatible(ckpt, space, objective, source=path)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from recipeopt.exceptions import CheckpointError
from recipeopt.meta.pretrain import MetaConfig, MetaResult
from recipeopt.objective import Objective
from recipeopt.space import Space

FORMAT = 1
#: Settings whose change makes a checkpoint stale (``epochs`` and the like only bound training).
IDENTITY_FIELDS = (
    "algorithm",
    "members",
    "hidden",
    "layers",
    "inner_steps",
    "inner_lr",
    "adapt_lr_scale",
    "learn_lr",
)


@dataclass
class Checkpoint:
    """A loaded checkpoint."""

    path: Path
    params: dict[str, Tensor]
    gains: dict[str, Tensor]
    config: MetaConfig
    y_mean: Tensor
    y_std: Tensor
    spread_prior: Tensor
    spread_adapted: Tensor
    schedule: tuple[tuple[int, int], ...]
    meta: dict[str, Any]

    @property
    def history_hash(self) -> str:
        """Content hash of the history it was trained on."""
        return str(self.meta["history"]["hash"])

    def adapt_steps(self, runs: int) -> int:
        """Adaptation steps for ``runs`` runs without cross-validation.

        The schedule's length for the largest calibrated size at most ``runs`` (the
        smallest size's below it); ``inner_steps`` without a schedule.
        """
        if not self.schedule:
            return self.config.inner_steps
        fitting = [steps for size, steps in self.schedule if size <= runs]
        return fitting[-1] if fitting else self.schedule[0][1]

    @property
    def inner_lr(self) -> float:
        """The inner rate the weights were meta-trained at.

        ``config.inner_lr`` is the rate asked for (what staleness is judged by);
        when the meta-loss diverged, training went on at a lower one, recorded here.
        """
        trained = self.meta.get("training", {}).get("inner_lr")
        return (
            float(trained) if trained is not None and trained == trained else self.config.inner_lr
        )

    @property
    def recoveries(self) -> list[tuple[int, float]]:
        """``(epoch, inner_lr)`` of each recovery from a diverged meta-loss."""
        return [
            (int(e), float(lr)) for e, lr in self.meta.get("training", {}).get("recoveries", [])
        ]

    @property
    def identity(self) -> str:
        """Short provenance string stored with every run it proposes."""
        return f"{self.path.name}#{self.history_hash[:8]}"


def space_record(space: Space) -> list[dict[str, Any]]:
    """Return what a checkpoint must match of the space: names, order, bounds, scales, choices."""
    out = []
    for j, p in enumerate(space.parameters):
        out.append(
            {
                "name": p.name,
                "bounds": [float(space.lower[j]), float(space.upper[j])],
                "scale": "log" if space.log[j] else "linear",
                "choices": list(space.categorical.get(j, [])),
            }
        )
    return out


def metric_record(objective: Objective) -> list[dict[str, Any]]:
    """Return what a checkpoint must match of the objective: metric names and ranges."""
    return [
        {"name": n, "range": [float(w), float(b)]}
        for n, w, b in zip(objective.names, objective.worst, objective.best, strict=True)
    ]


def library_versions() -> dict[str, str]:
    """Return the versions of recipeopt and of the libraries its numbers depend on."""
    from importlib.metadata import version

    return {
        name: version(name)
        for name in (
            "recipeopt",
            "torch",
            "botorch",
            "gpytorch",
            "linear_operator",
            "numpy",
            "scipy",
        )
    }


def save_checkpoint(
    path: Path,
    result: MetaResult,
    config: MetaConfig,
    space: Space,
    objective: Objective,
    history: dict[str, Any],
) -> None:
    """Write a checkpoint atomically (a crash never leaves half a file).

    Args:
        path: Destination.
        result: The meta-training result.
        config: Its settings.
        space: The campaign's space.
        objective: The campaign's objective.
        history: ``hash``, ``files``, ``recipes``, ``runs`` and ``dropped`` counts.
    """
    payload = {
        "format": FORMAT,
        "params": {k: v.detach().cpu() for k, v in result.params.items()},
        "gains": {k: v.detach().cpu() for k, v in result.gains.items()},
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "parameters": space_record(space),
        "metrics": metric_record(objective),
        "y_mean": result.y_mean.cpu(),
        "y_std": result.y_std.cpu(),
        "spread": {"prior": result.spread_prior.cpu(), "adapted": result.spread_adapted.cpu()},
        "schedule": [list(pair) for pair in result.schedule],
        "history": history,
        "training": {
            "epochs": result.epochs,
            "held_out_loss": result.held_out_loss,
            "stopped_early": result.stopped_early,
            "train_recipes": result.train_recipes,
            "validation_recipes": result.validation_recipes,
            "inner_lr": result.inner_lr,
            "recoveries": [list(r) for r in result.recoveries],
        },
        "versions": library_versions(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint.

    Raises:
        CheckpointError: If the file is missing, unreadable or of another format.
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(
            f"{path}: no checkpoint; run `recipeopt pretrain CAMPAIGN` first"
        ) from None
    except Exception as err:  # torch raises many types for a corrupt file
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(err).__name__}); "
            "delete it and pretrain again"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format is not {FORMAT}; delete it and pretrain again"
        )
    # Checkpoints from before learned gains stepped every tensor at the plain inner rate.
    settings = {"learn_lr": False, **payload["config"]}
    config = MetaConfig(**{k: _tuples(v) for k, v in settings.items()})
    params = payload["params"]
    return Checkpoint(
        path=path,
        params=params,
        gains=payload.get("gains") or {k: torch.ones(len(v)) for k, v in params.items()},
        config=config,
        y_mean=payload["y_mean"],
        y_std=payload["y_std"],
        spread_prior=payload["spread"]["prior"],
        spread_adapted=payload["spread"]["adapted"],
        schedule=tuple(sorted(tuple(pair) for pair in payload.get("schedule", ()))),
        meta=payload,
    )


def check_compatible(ckpt: Checkpoint, space: Space, objective: Objective) -> None:
    """Raise unless the checkpoint was trained for this space and these metrics.

    Raises:
        CheckpointError: Naming the first difference and the fix.
    """
    fix = "run `recipeopt pretrain CAMPAIGN` to retrain for the campaign as it is now"
    have, want = ckpt.meta["parameters"], space_record(space)
    names_have, names_want = [p["name"] for p in have], [p["name"] for p in want]
    if names_have != names_want:
        extra = sorted(set(names_want) - set(names_have)) or sorted(
            set(names_have) - set(names_want)
        )
        detail = (
            f"parameter {extra[0]!r} is in one and not the other"
            if extra
            else "the parameters are in another order"
        )
        raise CheckpointError(f"{ckpt.path}: trained for other parameters ({detail}); {fix}")
    for a, b in zip(have, want, strict=True):
        for key in ("bounds", "scale", "choices"):
            if a[key] != b[key]:
                raise CheckpointError(
                    f"{ckpt.path}: trained for {a['name']} {key} {a[key]}, "
                    f"the campaign has {b[key]}; {fix}"
                )
    metrics_have, metrics_want = ckpt.meta["metrics"], metric_record(objective)
    if metrics_have != metrics_want:
        for a, b in zip(metrics_have, metrics_want, strict=False):
            if a != b:
                raise CheckpointError(
                    f"{ckpt.path}: trained for metric {a['name']} range {a['range']}, "
                    f"the campaign has {b['name']} range {b['range']}; {fix}"
                )
        raise CheckpointError(
            f"{ckpt.path}: trained for {len(metrics_have)} metrics, "
            f"the campaign has {len(metrics_want)}; {fix}"
        )


def stale_reason(ckpt: Checkpoint, config: MetaConfig, history_hash: str) -> str | None:
    """Return why the checkpoint no longer fits the history or settings, or None if it does."""
    if ckpt.history_hash != history_hash:
        return "the history files changed"
    for name in IDENTITY_FIELDS:
        old, new = getattr(ckpt.config, name), getattr(config, name)
        if old != new:
            return f"model.{name} changed from {old} to {new}"
    return None


def _tuples(value: Any) -> Any:
    """Turn the lists a checkpoint stores back into the tuples :class:`MetaConfig` holds."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value
