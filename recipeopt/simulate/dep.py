"""A family of simulated PECVD dielectric-deposition recipes over dep7's setpoints.

Each recipe (task) deposits one film on one product: it draws a target
thickness, a target refractive index, the chamber-to-chamber offsets of the
tool set, and its process sensitivities from the family prior.

The model, per wafer:

* **Chemistry** (categorical): SiH4/N2O and TEOS/O2 deposit oxide (refractive
  index near 1.46), SiH4/NH3 deposits nitride (near 2.0). The precursor to
  oxidant ratio moves the index up (silicon-rich) or down. TEOS deposits more
  slowly and more conformally; SiH4/NH3 fastest.
* **Deposition rate** rises sub-linearly with RF power and with the precursor
  flow (``precursor_frac * total_flow``), falls with electrode spacing, and
  follows an Arrhenius factor in temperature (weakly, as PECVD does).
* **Thickness** = rate x the (pinned) deposition time, against the target.
* **Chamber** (categorical): each chamber has its own rate factor and radial
  non-uniformity offset, drawn per recipe.
* **Non-uniformity** (%) is quadratic in spacing around an optimum that moves
  with pressure, plus a chamber offset and a diluent (argon/helium) benefit.
* **Defects** (particles/cm2): gas-phase nucleation ("powder") grows with
  pressure x precursor fraction x power, and falls with temperature.
* **Yield** (%) is the fraction of sites with thickness and index inside
  spec (heavy-tailed windows, as in the etch family).

Measurement noise: 1 % absolute on yield, 0.3 % on uniformity, 10 % log-normal
on defects. ``responses`` is noiseless; ``measure`` adds the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recipeopt.simulate.response import add_noise, window

CHEMISTRIES = ("SiH4/N2O", "TEOS/O2", "SiH4/NH3")
CHAMBERS = ("A", "B", "C")
_K_B = 8.617e-5


@dataclass(frozen=True)
class DepRecipe:
    """Latent constants of one deposition recipe (one task)."""

    target_thickness: float
    thickness_tol: float
    target_index: float
    index_tol: float
    rate_scale: float
    activation: float
    spacing_opt: float
    spacing_pressure: float
    chamber_rate: tuple[float, float, float]
    chamber_nu: tuple[float, float, float]
    powder: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> DepRecipe:
        """Draw a recipe from the family prior (oxide films two times in three)."""
        nitride = rng.random() < 1 / 3
        return cls(
            target_thickness=rng.uniform(300.0, 900.0),
            thickness_tol=rng.uniform(0.06, 0.12),
            target_index=rng.uniform(1.95, 2.05) if nitride else rng.uniform(1.45, 1.49),
            index_tol=rng.uniform(0.015, 0.03),
            rate_scale=rng.uniform(6.0, 14.0),
            activation=rng.uniform(0.02, 0.12),
            spacing_opt=rng.uniform(9.0, 18.0),
            spacing_pressure=rng.uniform(-2.0, 2.0),
            chamber_rate=tuple(rng.uniform(0.85, 1.15, 3)),
            chamber_nu=tuple(rng.uniform(0.0, 2.5, 3)),
            powder=rng.uniform(0.5, 2.0),
        )

    def responses(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return noiseless ``yield`` (%), ``uniformity`` (%) and ``defects`` (1/cm2)."""
        chem = frame["chemistry"].map({c: i for i, c in enumerate(CHEMISTRIES)}).to_numpy(dtype=int)
        chamber = frame["chamber"].map({c: i for i, c in enumerate(CHAMBERS)}).to_numpy(dtype=int)
        g = {
            c: frame[c].to_numpy(dtype=float)
            for c in frame.columns
            if c not in ("chemistry", "chamber")
        }
        ratio = g["precursor_frac"] / np.maximum(g["oxidant_frac"], 1e-3)
        base_index = np.array([1.46, 1.45, 1.98])[chem]
        index = base_index + np.array([0.08, 0.05, 0.12])[chem] * np.log(ratio / 0.25)
        chem_rate = np.array([1.0, 0.55, 1.3])[chem]
        flow = g["precursor_frac"] * g["total_flow"] / 500.0
        arrhenius = np.exp(-self.activation / _K_B * (1 / (g["temperature"] + 273.15) - 1 / 623.15))
        rate = (
            self.rate_scale
            * chem_rate
            * (g["rf_power"] / 400.0) ** 0.6
            * flow**0.7
            / (1.0 + flow / 3.0)
            * (12.0 / g["spacing"]) ** 0.5
            * arrhenius
            * np.array(self.chamber_rate)[chamber]
        )
        thickness = rate * g["deposition_time"]
        p_thick = window((thickness / self.target_thickness - 1.0) / self.thickness_tol)
        p_index = window((index - self.target_index) / self.index_tol)
        spacing_opt = self.spacing_opt + self.spacing_pressure * np.log(g["pressure"] / 2.0)
        nu = (
            0.8
            + 0.06 * (g["spacing"] - spacing_opt) ** 2
            + np.array(self.chamber_nu)[chamber]
            + 1.2 * (1.0 - g["diluent_frac"]) ** 2
            + 0.4 * np.log(g["total_flow"] / 2000.0) ** 2
        )
        powder = self.powder * g["pressure"] * g["precursor_frac"] * (g["rf_power"] / 500.0)
        defects = 0.03 + 0.15 * powder**2 * np.exp(-(g["temperature"] - 300.0) / 80.0)
        yield_pct = (
            100.0
            * p_thick
            * p_index
            * (0.3 + 0.7 * np.exp(-0.5 * (np.clip(nu - 2.0, 0, None) / 3.0) ** 2))
        )
        return pd.DataFrame(
            {"yield": yield_pct, "uniformity": 100.0 - nu, "defects": defects}, index=frame.index
        )

    def measure(self, frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        """Return responses with measurement noise drawn from ``rng``."""
        return add_noise(self.responses(frame), rng)
