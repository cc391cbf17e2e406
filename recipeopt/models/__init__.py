"""Surrogate models: the deep ensemble (a BoTorch ``EnsembleModel``) and its members."""
