"""A campaign's model work runs on one thread; meta-training on every core."""

from __future__ import annotations

import torch

from recipeopt import runtime
from recipeopt.campaign import Campaign


def test_model_work_runs_on_model_threads_and_restores_the_callers_setting():
    seen: list[int] = []

    @runtime.model_threads
    def work() -> str:
        seen.append(torch.get_num_threads())
        return "done"

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert work() == "done"
        assert seen == [runtime.MODEL_THREADS]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_commands_that_fit_models_are_wrapped():
    for name in ("suggest", "status", "fit_model", "cross_validate"):
        method = getattr(Campaign, name)
        assert method.__wrapped__.__name__ == name  # functools.wraps of model_threads
    assert runtime.training_threads() >= 1
