"""Pieces shared by the simulated response models: spec windows and measurement noise."""

from __future__ import annotations

import numpy as np
import pandas as pd


def window(z: np.ndarray) -> np.ndarray:
    """Fraction of dies inside a spec at standardized error ``z``: Gaussian core, heavy tails.

    Real wafers have die-to-die spread, so a recipe slightly off target still
    yields some dies: ``(1 + z^2 / 3)^-2`` matches ``exp(-z^2/2)`` near 0 and
    decays polynomially, like a Student-t with 3 degrees of freedom.
    """
    return (1.0 + z**2 / 3.0) ** -2.0


def add_noise(responses: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Add metrology noise: 1 % absolute on yield, 0.3 % on uniformity, 10 % on defects."""
    out = responses.copy()
    n = len(out)
    out["yield"] = np.clip(out["yield"] + rng.normal(0.0, 1.0, n), 0.0, 100.0)
    out["uniformity"] = np.clip(out["uniformity"] + rng.normal(0.0, 0.3, n), 0.0, 100.0)
    out["defects"] = out["defects"] * np.exp(rng.normal(0.0, 0.1, n))
    return out
