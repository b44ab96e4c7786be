"""Hyperparameter tuning: searches over training jobs, driven by Optuna through ask/tell."""

from cove.tuning._api import TuningApi
from cove.tuning._jobs import TuningJobs

__all__ = ["TuningApi", "TuningJobs"]
