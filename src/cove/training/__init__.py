"""Training jobs: the SageMaker training API, the container contract without a container,
runtimes chosen by image URI, logs and metrics."""

from cove.training._api import REQUIRED, TrainingApi
from cove.training._data import DataPlane, LocalDataPlane, read_manifest
from cove.training._jobs import LOG_GROUP, TERMINAL, TrainingJobs, TrainingSettings
from cove.training._metrics import final_values, series

__all__ = ["LOG_GROUP", "REQUIRED", "TERMINAL", "DataPlane", "LocalDataPlane", "TrainingApi",
           "TrainingJobs", "TrainingSettings", "final_values", "read_manifest", "series"]
