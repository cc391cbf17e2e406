"""How torch runs: the CPU threads for each kind of work, and seeded blocks.

A campaign's GPs are small: splitting their matrix operations over threads
costs more in synchronization than it gains (fitting BoTorch's GP to 100 runs
of 15 parameters and 3 metrics took 1.4 s on one thread and 11.4 s on two, on
the 2-core reference machine). Training networks, batched over members and
folds, does gain from every core: meta-training on the bundled etch42 history
took 44 s on two threads against 54 s on one, the scratch ensemble on 100 runs
1.8-2.0 s against 3.3-4.7 s. So a campaign's commands run on one thread
(:func:`model_threads`) and raise it for network training
(:func:`training_threads`). See docs/decisions/0010-one-thread-for-a-campaigns-models.md.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

#: Threads for fitting a campaign's models and optimizing the acquisition.
MODEL_THREADS = 1


#: Threads for training networks (None: every core). A process that shares the
#: machine with others, as a benchmark worker does, sets 1.
TRAINING_THREADS: int | None = None


def training_threads() -> int:
    """Threads for training networks: meta-training, the scratch ensemble, adaptation."""
    return TRAINING_THREADS or os.cpu_count() or 1


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with torch's intra-op threads set to ``count``, then restore them."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def model_threads(function: Callable[P, R]) -> Callable[P, R]:
    """Decorate a function that fits a campaign's models to run on :data:`MODEL_THREADS`."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with torch_threads(MODEL_THREADS):
            return function(*args, **kwargs)

    return wrapper


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generator inside the block and restore it afterwards."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        yield
