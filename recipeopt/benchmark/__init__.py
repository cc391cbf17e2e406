"""The offline benchmark: every method runs the full loop on held-out recipes.

* :mod:`recipeopt.benchmark.runner`: jobs, the process pool, resumable output.
* :mod:`recipeopt.benchmark.metrics`: normalized regret, experiments to target, the summary.
* :mod:`recipeopt.benchmark.emulator`: historical recipes emulated by GPs (``history:``).
* :mod:`recipeopt.benchmark.plots`: ``regret.png``.
"""
