"""Hyperparameter tuning: searches over training jobs, driven by Optuna through ask/tell."""

from cove.tuning._api import TuningApi, describe_tuning_job
from cove.tuning._jobs import TuningJobs
from cove.tuning._records import ObjectiveStatus, Trial, TrialState, TuningJob

__all__ = ["ObjectiveStatus", "Trial", "TrialState", "TuningApi", "TuningJob", "TuningJobs",
           "describe_tuning_job"]
