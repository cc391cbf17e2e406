"""A campaign's meta-trained prior: where its checkpoint lives, when to retrain, how.

:class:`MetaPrior` owns one campaign's checkpoint. :meth:`MetaPrior.checkpoint`
returns it, meta-training first when it is missing, when the history files'
content changed, or when a setting it depends on changed; one load per
process serves every later call while the history is unchanged.
:meth:`MetaPrior.pretrain` meta-trains on the history and writes the
checkpoint atomically.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import pandas as pd

from recipeopt.checkpoints import (
    Checkpoint,
    check_compatible,
    load_checkpoint,
    save_checkpoint,
    stale_reason,
)
from recipeopt.exceptions import NoMeasurementsError
from recipeopt.history import build_tasks, history_hash, history_paths, read_history
from recipeopt.meta.pretrain import MetaConfig, Progress, meta_train
from recipeopt.objective import Objective
from recipeopt.runtime import torch_threads, training_threads
from recipeopt.space import Space
from recipeopt.spec import CampaignSpec
from recipeopt.strategy.config import StrategyConfig


@dataclass
class PretrainReport:
    """What ``pretrain`` did.

    Attributes:
        path: The checkpoint written.
        recipes: Recipes meta-trained on (training plus held-out).
        runs: Usable history runs.
        dropped: Counts of runs and recipes dropped, per rule (see :mod:`recipeopt.history`).
        epochs: Epochs run.
        held_out_loss: Held-out query loss of the kept weights (standardized units).
        stopped_early: Whether early stopping ended training.
        seconds: Wall time.
        gains: Median over members of the inner-rate gain per parameter tensor (all 1
            unless ``learn_lr``).
        schedule: ``(runs, steps)``: the adaptation length ``suggest`` takes below 20
            runs, chosen on the held-out recipes.
        recoveries: Each time the meta-loss diverged: the epoch, and the inner rate
            training went on with from the last good weights.
    """

    path: Path
    recipes: int
    runs: int
    dropped: dict[str, int]
    epochs: int
    held_out_loss: float
    stopped_early: bool
    seconds: float
    gains: dict[str, float]
    schedule: tuple[tuple[int, int], ...] = ()
    recoveries: tuple[tuple[int, float], ...] = ()


class MetaPrior:
    """The meta-trained prior of one campaign.

    Args:
        spec: The campaign's spec (history files, members, checkpoint path, seed).
        space: The campaign's space.
        objective: The campaign's objective.
        config: The strategy settings (algorithm, architecture, inner loop).
        base: The folder the YAML is in (anchors relative paths).
        pinned: A checkpoint to use as it is, never retrained.
    """

    def __init__(
        self,
        spec: CampaignSpec,
        space: Space,
        objective: Objective,
        config: StrategyConfig,
        base: Path,
        pinned: Path | None = None,
    ) -> None:
        self.spec, self.space, self.objective, self.config = spec, space, objective, config
        self.base, self.pinned = base, pinned
        #: Why the last :meth:`checkpoint` call meta-trained again (None if it did not).
        self.pretrain_reason: str | None = None
        self._loaded: tuple[tuple[Path, str], Checkpoint] | None = None

    def meta_config(self, **overrides: Any) -> MetaConfig:
        """Return the meta-training settings, with ``overrides`` (None ignored)."""
        c = self.config
        settings: dict[str, Any] = {
            "algorithm": c.algorithm,
            "members": self.spec.model.members,
            "hidden": c.hidden,
            "layers": c.layers,
            "categorical": self.space.choice_counts,
            "inner_steps": c.inner_steps,
            "inner_lr": c.inner_lr,
            "adapt_lr_scale": c.adapt_lr_scale,
            "learn_lr": c.learn_lr,
            "epochs": c.meta_epochs,
        }
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return MetaConfig(**settings)

    def path(self, algorithm: str | None = None) -> Path:
        """Return where the checkpoint of ``algorithm`` (default: the strategy's) lives."""
        if self.pinned is not None and algorithm is None:
            return self.pinned
        if self.spec.model.checkpoint and algorithm in (None, self.config.algorithm):
            return self.base / self.spec.model.checkpoint
        return self.base / f"{self.spec.name}.{algorithm or self.config.algorithm}.pt"

    def history_files(self) -> list[Path]:
        """Return the campaign's history files (resolved beside the YAML)."""
        return history_paths(self.spec, self.base)

    def pretrain(
        self,
        *,
        algorithm: str | None = None,
        inner_steps: int | None = None,
        epochs: int | None = None,
        seed: int | None = None,
        history: pd.DataFrame | None = None,
        out: Path | None = None,
        on_epoch: Progress | None = None,
    ) -> PretrainReport:
        """Meta-train the ensemble on the history and write the checkpoint.

        Side effects:
            Writes the checkpoint (atomically) to ``out`` or :meth:`path`.

        Args:
            algorithm: ``maml``, ``fomaml`` or ``reptile`` (default: the strategy's).
            inner_steps: Inner SGD steps (default: the strategy's).
            epochs: Most epochs (default: the strategy's ``meta_epochs``).
            seed: Seed (default: the spec's).
            history: A history table to use instead of the spec's files (benchmarks).
            out: Where to write (default: :meth:`path`).
            on_epoch: Progress callback ``(epoch, epochs, train_loss, validation_loss)``.

        Raises:
            RecipeoptError: If the history is unreadable, lacks a column, or has
                fewer than 2 usable recipes.
        """
        import torch

        start = time.perf_counter()
        seed = self.spec.seed if seed is None else seed
        config = self.meta_config(algorithm=algorithm, inner_steps=inner_steps, epochs=epochs)
        if history is None:
            paths = self.history_files()
            if not paths:
                raise NoMeasurementsError(
                    f"campaign {self.spec.name!r} lists no history files; add history: to the YAML"
                )
            history = read_history(paths, self.space.names, self.objective.names)
            digest, files = history_hash(paths), len(paths)
        else:
            digest = hashlib.sha256(history.to_csv(index=False).encode()).hexdigest()[:16]
            files = 0
        tasks = build_tasks(history, self.space, self.objective)
        with torch.random.fork_rng(), torch_threads(training_threads()):
            torch.manual_seed(seed)
            result = meta_train(tasks, config, seed=seed, on_epoch=on_epoch)
        target = out or self.path(algorithm)
        record = {
            "hash": digest,
            "files": files,
            "recipes": len(tasks),
            "runs": tasks.runs,
            "dropped": tasks.dropped,
        }
        save_checkpoint(target, result, config, self.space, self.objective, record)
        self._loaded = None  # a checkpoint loaded before is no longer the one on disk
        return PretrainReport(
            path=target,
            recipes=len(tasks),
            runs=tasks.runs,
            dropped=tasks.dropped,
            epochs=result.epochs,
            held_out_loss=result.held_out_loss,
            stopped_early=result.stopped_early,
            seconds=time.perf_counter() - start,
            gains={k: float(v.median()) for k, v in result.gains.items()},
            schedule=result.schedule,
            recoveries=result.recoveries,
        )

    @overload
    def checkpoint(self, *, on_epoch: Progress | None = None) -> Checkpoint: ...
    @overload
    def checkpoint(self, *, train: Literal[False]) -> Checkpoint | None: ...
    def checkpoint(
        self, *, on_epoch: Progress | None = None, train: bool = True
    ) -> Checkpoint | None:
        """Return the meta-trained checkpoint, meta-training first if it is missing or stale.

        A pinned checkpoint is used as it is. Otherwise the checkpoint is
        retrained when it is missing, when the history files' content hash
        changed, or when a model setting it depends on changed. With
        ``train=False`` it is never retrained: None is returned instead.

        Side effects:
            May write the checkpoint.

        Raises:
            CheckpointError: If the checkpoint was made for other parameters or metrics.
        """
        path = self.path()
        digest = "pinned" if self.pinned is not None else history_hash(self.history_files())
        if self._loaded is not None and self._loaded[0] == (path, digest):
            return self._loaded[1]  # NOTE: one load per process while the history is unchanged
        algorithm = None
        if self.pinned is not None or path.exists():
            ckpt = load_checkpoint(path)
            check_compatible(ckpt, self.space, self.objective)
            # NOTE: a checkpoint the campaign names (model.checkpoint) keeps its algorithm.
            algorithm = ckpt.config.algorithm if self.spec.model.checkpoint else None
            config = self.meta_config(algorithm=algorithm)
            reason = "" if digest == "pinned" else stale_reason(ckpt, config, digest)
        else:
            reason = "there is none yet"
        if reason and not train:
            return None
        if reason:
            self.pretrain_reason = reason
            self.pretrain(algorithm=algorithm, out=path, on_epoch=on_epoch)
            ckpt = load_checkpoint(path)
        self._loaded = ((path, digest), ckpt)
        return ckpt
