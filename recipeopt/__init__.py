"""recipeopt: a Bayesian-optimization experiment planner for process recipes.

The package root stays light: importing it must not import torch, so that
``recipeopt --help`` answers at once. Use :class:`recipeopt.campaign.Campaign`
for the lifecycle (``suggest``, ``record``, ``status``, ``export``).
"""

__version__ = "0.1.0"
