"""Meta-learning of the ensemble's prior (MAML and its first-order variants)."""
