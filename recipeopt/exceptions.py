"""Errors, one class per condition, all under :class:`RecipeoptError`.

The CLI prints any :class:`RecipeoptError` as one line and exits with code 1,
so every message is a whole sentence that names the file, field or row at
fault and says how to fix it.
"""

from __future__ import annotations


class RecipeoptError(Exception):
    """Base class of every error recipeopt reports to a user."""


class SpecError(RecipeoptError):
    """The campaign YAML is unreadable or invalid."""


class ConstraintSyntaxError(SpecError):
    """A constraint string is not a linear (in)equality over parameter names."""


class InfeasibleConstraintsError(SpecError):
    """No recipe inside the bounds satisfies the constraints."""


class StorageError(RecipeoptError):
    """The run store cannot be opened, read or written."""


class ConcurrentChangeError(StorageError):
    """Someone else changed the campaign's runs while this command was working on them."""


class ResultsFileError(RecipeoptError):
    """A results file for ``record`` is unreadable or has a bad row."""


class NoMeasurementsError(RecipeoptError):
    """An operation needs complete runs and the campaign has too few."""


class NotEnoughPointsLeftError(RecipeoptError):
    """The space holds fewer distinct new recipes than were asked for."""


class CheckpointError(RecipeoptError):
    """A meta-trained checkpoint is missing, unreadable, or made for another campaign."""
