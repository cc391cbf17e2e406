"""The etch family on a tool that faults: runs in two regions of the space fail.

Each recipe of the ``etch-faults`` family is an etch recipe of the ``etch``
family (the same draw, so the same responses) on a tool with two failure
regions whose edges vary by tool:

* **arc faults**: below ``arc_pressure`` (15–30 mTorr) with bias above
  ``arc_bias`` (450–750 W), the plasma arcs;
* **de-chucking**: backside helium above ``dechuck_he`` (15–18 Torr) lifts the
  wafer off the electrostatic chuck.

Both lie beside the region where good etch recipes sit (25–45 mTorr,
450–800 W bias, 11–14 Torr helium), so a campaign that ignores its failures
keeps running wafers into them. A failed run returns no metrics and the status
``failed``, as an engineer records it; its noiseless score is ``-inf`` (it
made no product), so it never counts as the best run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recipeopt.simulate.etch import EtchRecipe


@dataclass(frozen=True)
class FaultyEtchRecipe:
    """An etch recipe on a tool with an arc-fault and a de-chucking region."""

    recipe: EtchRecipe
    arc_pressure: float
    arc_bias: float
    dechuck_he: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> FaultyEtchRecipe:
        """Draw an etch recipe, then the tool's failure edges."""
        recipe = EtchRecipe.draw(rng)
        return cls(recipe, rng.uniform(15.0, 30.0), rng.uniform(450.0, 750.0), rng.uniform(15, 18))

    def fails(self, frame: pd.DataFrame) -> np.ndarray:
        """Return which rows of setpoints fail (arc fault or de-chucking)."""
        pressure = frame["pressure"].to_numpy(dtype=float)
        bias = frame["bias_power"].to_numpy(dtype=float)
        helium = frame["he_pressure"].to_numpy(dtype=float)
        arcs = (pressure < self.arc_pressure) & (bias > self.arc_bias)
        return arcs | (helium > self.dechuck_he)

    def responses(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return the noiseless metrics the recipe would give if the run did not fail."""
        return self.recipe.responses(frame)

    def measure(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Return noisy metrics, and ``status`` ``failed`` (no metrics) where a run fails."""
        measured = self.recipe.measure(frame, rng)
        failed = self.fails(frame)
        measured.loc[failed, list(measured.columns)] = np.nan
        measured["status"] = np.where(failed, "failed", "complete")
        return measured
